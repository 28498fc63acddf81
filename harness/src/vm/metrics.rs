//! The guest metrics agent's stream (see images/rootfs/metrics-agent.sh) parsed into time
//! series, plus the QEMU process's own CPU and RSS sampled from the host's /proc.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;

/// Guest kernel ticks per second (USER_HZ is 100 on every Linux ABI).
const GUEST_HZ: f64 = 100.0;

/// One line of the agent's stream (protocol v3: after its header, the guest sends lines of
/// /proc files as they are, told apart by their shape, and a `.` after each sample).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricLine {
    Header {
        page_kb: u64,
        cpus: u32,
    },
    /// A /proc/meminfo line the agent sends: MemTotal, MemFree or MemAvailable.
    Mem {
        field: MemField,
        kb: u64,
    },
    /// /proc/uptime: seconds since boot, and idle seconds summed over the CPUs. Only in the
    /// samples the host asks the guest's clock with.
    Uptime {
        uptime: f64,
        idle: f64,
    },
    Proc {
        pid: u32,
        name: String,
        ticks: u64,
        rss_pages: u64,
        threads: u32,
    },
    /// The end of a sample.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemField {
    Total,
    Free,
    Available,
}

/// Parse one agent line; `None` for anything else (e.g. noise while the port opens).
pub fn parse_line(line: &str) -> Option<MetricLine> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        ["."] => Some(MetricLine::End),
        ["H", "routerlab-metrics", "v3", kv @ ..] => {
            let key = |k: &str| kv.iter().find_map(|x| x.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok());
            Some(MetricLine::Header { page_kb: key("page_kb")?, cpus: key("cpus")? as u32 })
        }
        [key, kb, "kB"] => {
            let field = match *key {
                "MemTotal:" => MemField::Total,
                "MemFree:" => MemField::Free,
                "MemAvailable:" => MemField::Available,
                _ => return None,
            };
            Some(MetricLine::Mem { field, kb: kb.parse().ok()? })
        }
        [up, idle] => Some(MetricLine::Uptime { uptime: up.parse().ok()?, idle: idle.parse().ok()? }),
        _ => parse_stat(line),
    }
}

/// A /proc/PID/stat line, whole or (as the agent sends it) up to field 24: utime, stime,
/// num_threads and rss are fields 14, 15, 20 and 24.
fn parse_stat(s: &str) -> Option<MetricLine> {
    let (pid, name, f) = crate::procstat::split(s)?;
    let n = |field: usize| crate::procstat::number(&f, field);
    Some(MetricLine::Proc {
        pid: pid.parse().ok()?,
        name: name.to_string(),
        ticks: n(14)? + n(15)?,
        threads: n(20)? as u32,
        rss_pages: n(24)?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GuestPoint {
    pub uptime: f64,
    /// When the host received it: seconds on the VM's host clock (`Vm::host_clock`), which
    /// goes on while the guest is paused and its uptime stands still.
    pub host_t: f64,
    /// Busy share of all guest CPUs since the previous sample, percent.
    pub cpu_pct: f64,
    pub mem_total_kb: u64,
    pub mem_available_kb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProcPoint {
    pub uptime: f64,
    /// As [`GuestPoint::host_t`].
    pub host_t: f64,
    pub pid: u32,
    /// Percent of one guest CPU since the previous sample of the same pid.
    pub cpu_pct: f64,
    pub rss_kb: u64,
    pub threads: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HostPoint {
    /// Seconds since QEMU was started.
    pub t: f64,
    /// Percent of one host CPU used by the QEMU process.
    pub cpu_pct: f64,
    pub rss_kb: u64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MetricsSeries {
    pub guest: Vec<GuestPoint>,
    pub procs: BTreeMap<String, Vec<ProcPoint>>,
    pub host: Vec<HostPoint>,
}

#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// From the agent's header: the page size (RSS is in pages) and the CPUs idle is summed
    /// over (at least one counts).
    page_kb: u64,
    cpus: u32,
    headers: usize,
    /// The last /proc/uptime (uptime, idle), for the guest's CPU between two of them.
    last_uptime: Option<(f64, f64)>,
    /// Host seconds less guest uptime at the last sample that carried /proc/uptime: how a
    /// sample without it is put on the guest's clock.
    offset: Option<f64>,
    /// The guest uptime of the sample being received, if it carried /proc/uptime.
    sample_uptime: Option<f64>,
    guest: Vec<GuestPoint>,
    /// The last /proc/meminfo values: total, free, and available (none before Linux 3.14).
    mem: (u64, u64, Option<u64>),
    last_proc: BTreeMap<u32, (f64, u64)>,
    procs: BTreeMap<String, Vec<ProcPoint>>,
    last_host: Option<(f64, u64)>,
    host: Vec<HostPoint>,
    /// Samples the agent has sent (`.` lines), and the interval the host asks for them at.
    samples: usize,
    interval_ms: Option<u64>,
}

/// How far the metrics agent has got: samples received, and its sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentProgress {
    pub samples: usize,
    pub interval_ms: Option<u64>,
    /// Headers seen: the agent has started (again, if more than one).
    pub headers: usize,
}

impl Collector {
    /// Take `line`, received at `host_t` seconds on the host's clock (any fixed origin).
    pub fn push(&mut self, line: MetricLine, host_t: f64) {
        match line {
            MetricLine::Header { page_kb, cpus } => {
                (self.page_kb, self.cpus) = (page_kb, cpus);
                self.headers += 1;
                // A restarted agent's idle time and PIDs do not continue the old ones.
                (self.last_uptime, self.sample_uptime) = (None, None);
                self.last_proc.clear();
            }
            MetricLine::Mem { field, kb } => match field {
                // The first of the three: a kernel without MemAvailable sends no third.
                MemField::Total => self.mem = (kb, self.mem.1, None),
                MemField::Free => self.mem.1 = kb,
                MemField::Available => self.mem.2 = Some(kb),
            },
            MetricLine::End => {
                self.samples += 1;
                self.sample_uptime = None;
            }
            MetricLine::Uptime { uptime, idle } => {
                (self.offset, self.sample_uptime) = (Some(host_t - uptime), Some(uptime));
                if let Some((u0, i0)) = self.last_uptime.filter(|(u0, _)| uptime > *u0) {
                    let idle_share = (idle - i0) / ((uptime - u0) * self.cpus.max(1) as f64);
                    self.guest.push(GuestPoint {
                        uptime,
                        host_t,
                        cpu_pct: (100.0 * (1.0 - idle_share)).clamp(0.0, 100.0),
                        mem_total_kb: self.mem.0,
                        mem_available_kb: self.mem.2.unwrap_or(self.mem.1),
                    });
                }
                self.last_uptime = Some((uptime, idle));
            }
            MetricLine::Proc { pid, name, ticks, rss_pages, threads } => {
                let Some(uptime) = self.sample_uptime.or(self.offset.map(|o| host_t - o)) else { return };
                if let Some((t0, k0)) = self.last_proc.insert(pid, (uptime, ticks)) {
                    let dt = uptime - t0;
                    if dt > 0.0 {
                        let cpu_pct = 100.0 * ticks.saturating_sub(k0) as f64 / GUEST_HZ / dt;
                        let rss_kb = rss_pages * self.page_kb;
                        self.procs.entry(name).or_default().push(ProcPoint {
                            uptime,
                            host_t,
                            pid,
                            cpu_pct,
                            rss_kb,
                            threads,
                        });
                    }
                }
            }
        }
    }

    /// The guest was paused: its clock stood still while the host's ran, so the offset
    /// between them is stale. Samples without /proc/uptime are left out until one with it
    /// comes, and no process's CPU is taken across the pause.
    pub fn resync(&mut self) {
        self.offset = None;
        self.last_proc.clear();
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.interval_ms = Some(interval.as_millis() as u64);
    }

    fn push_host(&mut self, t: f64, ticks: u64, rss_kb: u64, hz: f64) {
        if let Some((t0, k0)) = self.last_host {
            if t > t0 {
                let cpu_pct = 100.0 * ticks.saturating_sub(k0) as f64 / hz / (t - t0);
                self.host.push(HostPoint { t, cpu_pct, rss_kb });
            }
        }
        self.last_host = Some((t, ticks));
    }

    pub fn progress(&self) -> AgentProgress {
        AgentProgress { samples: self.samples, interval_ms: self.interval_ms, headers: self.headers }
    }

    pub fn series(&self) -> MetricsSeries {
        MetricsSeries { guest: self.guest.clone(), procs: self.procs.clone(), host: self.host.clone() }
    }
}

/// Read the agent's stream from QEMU's socket into `collector`, keeping a raw log; lines
/// are stamped with seconds since `t0` (the VM's host clock). Returns the socket's write
/// half, which talks to the agent.
pub(crate) async fn attach(
    sock: &Path,
    log: &Path,
    collector: Arc<Mutex<Collector>>,
    t0: Instant,
) -> std::io::Result<OwnedWriteHalf> {
    let (read, write) = UnixStream::connect(sock).await?.into_split();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim_end_matches('\r');
            let _ = writeln!(file, "{line}");
            if let Some(m) = parse_line(line) {
                collector.lock().expect("metrics lock").push(m, t0.elapsed().as_secs_f64());
            }
        }
    });
    Ok(write)
}

/// Sample the QEMU process (utime+stime, VmRSS) every 500 ms until it is gone, on the
/// clock of `t0`.
pub(crate) fn sample_host(pid: u32, collector: Arc<Mutex<Collector>>, t0: Instant) {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    tokio::spawn(async move {
        while let Some((ticks, rss)) = read_proc(pid) {
            collector.lock().expect("metrics lock").push_host(t0.elapsed().as_secs_f64(), ticks, rss, hz);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

fn read_proc(pid: u32) -> Option<(u64, u64)> {
    let f = crate::procstat::fields(pid)?;
    if f.first().map(String::as_str) == Some("Z") {
        return None;
    }
    // utime + stime (fields 14 and 15).
    let ticks = crate::procstat::number(&f, 14)? + crate::procstat::number(&f, 15)?;
    // A process whose status cannot be read (it is exiting) counts 0, as before.
    std::fs::metadata(format!("/proc/{pid}/status")).ok()?;
    Some((ticks, crate::procstat::vm_rss_kb(pid).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A /proc/PID/stat line as the aarch64 guest printed it, with utime 40, stime 35,
    /// 1 thread and 331 pages of RSS.
    const STAT: &str = "147 (haproxy) S 141 141 1 52288 141 4194304 66 0 0 0 40 35 0 0 20 0 1 0 681 \
                        2138112 331 18446744073709551615 4194304 5972170 281474806382144 0 0 0 0";

    /// [`STAT`] with `ticks` of CPU (utime; stime 0).
    fn proc_line(ticks: u64) -> String {
        STAT.replace(" 40 35 ", &format!(" {ticks} 0 "))
    }

    /// Feed `lines`, each received at its host time.
    fn feed(c: &mut Collector, lines: &[(&str, f64)]) {
        for (l, t) in lines {
            c.push(parse_line(l).unwrap_or_else(|| panic!("{l}")), *t);
        }
    }

    #[test]
    fn parses_agent_lines() {
        assert_eq!(
            parse_line("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=1"),
            Some(MetricLine::Header { page_kb: 4, cpus: 1 })
        );
        assert_eq!(parse_line("H routerlab-metrics v2 clk_tck=100 page_kb=4 cpus=1"), None, "the old protocol");
        assert_eq!(parse_line("."), Some(MetricLine::End));
        assert_eq!(
            parse_line("MemAvailable:     182316 kB"),
            Some(MetricLine::Mem { field: MemField::Available, kb: 182316 })
        );
        assert_eq!(parse_line("12.48 5.27"), Some(MetricLine::Uptime { uptime: 12.48, idle: 5.27 }));
        assert_eq!(
            parse_line(STAT),
            Some(MetricLine::Proc { pid: 147, name: "haproxy".into(), ticks: 75, rss_pages: 331, threads: 1 })
        );
        let cut = &STAT[..STAT.find("18446744073709551615").unwrap()];
        assert_eq!(parse_line(cut), parse_line(STAT), "up to the RSS, as the agent sends it");
        let short = &STAT[..STAT.find(" 331 ").unwrap()];
        assert_eq!(parse_line(short), None, "cut before the RSS");
        let odd = STAT.replace("(haproxy)", "(a) b (c)");
        assert!(matches!(parse_line(&odd), Some(MetricLine::Proc { ref name, ticks: 75, .. }) if name == "a) b (c"));
        let bad = [
            "garbage",
            "1 2 3",
            "x 2",
            "147 (haproxy) S 1 2",
            "MemTotal: x kB",
            "Buffers: 5 kB",
            "H routerlab-metrics v3 cpus=1",
            "..",
        ];
        for bad in bad {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn cpu_percentages_from_deltas() {
        let mut c = Collector::default();
        let (p0, p75) = (proc_line(0), proc_line(75));
        feed(
            &mut c,
            &[
                ("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=2", 0.0),
                ("MemTotal: 1000 kB", 100.0),
                ("MemFree: 700 kB", 100.0),
                ("MemAvailable: 800 kB", 100.0),
                ("1.00 1.00", 100.0),
                (&p0, 100.0),
                (".", 100.0),
                // 1 s on 2 CPUs with 0.5 s idle: 75% busy.
                ("2.00 1.50", 101.0),
                (&p75, 101.0),
                (".", 101.0),
                // A kernel without MemAvailable: free stands in.
                ("MemTotal: 1000 kB", 102.0),
                ("MemFree: 600 kB", 102.0),
                ("3.00 2.50", 102.0),
                (".", 102.0),
            ],
        );
        let s = c.series();
        assert_eq!(c.progress(), AgentProgress { samples: 3, interval_ms: None, headers: 1 }, "`.` lines count");
        c.set_interval(Duration::from_millis(500));
        assert_eq!(c.progress().interval_ms, Some(500));
        assert_eq!(s.guest.len(), 2);
        assert!((s.guest[0].cpu_pct - 75.0).abs() < 1e-9, "{:?}", s.guest);
        assert_eq!(s.guest[0].mem_available_kb, 800);
        assert_eq!(s.guest[1].mem_available_kb, 600);
        let p = &s.procs["haproxy"][0];
        assert!((p.cpu_pct - 75.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.rss_kb, 331 * 4, "pages times the header's page size");
        c.push_host(0.0, 0, 10, 100.0);
        c.push_host(0.5, 25, 12, 100.0);
        assert!((c.series().host[0].cpu_pct - 50.0).abs() < 1e-9);
    }

    #[test]
    fn samples_without_the_guest_clock_are_put_on_it_by_the_host_clock() {
        let mut c = Collector::default();
        let (p0, p25, p50) = (proc_line(0), proc_line(25), proc_line(50));
        feed(&mut c, &[("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=1", 0.0), (&p0, 1.0), (".", 1.0)]);
        assert_eq!(c.progress().samples, 1);
        assert!(c.series().procs.is_empty(), "no guest clock yet: the sample has no time");
        feed(
            &mut c,
            &[
                // The host receives the clock 40 s after the guest's boot on its own clock.
                ("10.0 9.0", 50.0),
                (&p0, 50.0),
                (".", 50.0),
                (&p25, 50.5),
                (".", 50.5),
                (&p50, 51.5),
                (".", 51.5),
            ],
        );
        let p = &c.series().procs["haproxy"];
        let at: Vec<f64> = p.iter().map(|p| p.uptime).collect();
        assert_eq!(at, [10.5, 11.5], "guest uptimes");
        assert!((p[0].cpu_pct - 50.0).abs() < 1e-9 && (p[1].cpu_pct - 25.0).abs() < 1e-9, "{p:?}");
        assert_eq!(c.progress().samples, 4);
    }

    #[test]
    fn after_a_pause_samples_wait_for_the_guest_clock() {
        let mut c = Collector::default();
        let (p0, p50, p90, p140) = (proc_line(0), proc_line(50), proc_line(90), proc_line(140));
        let head = ("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=1", 0.0);
        feed(&mut c, &[head, ("10.0 9.0", 50.0), (&p0, 50.0), (".", 50.0), (&p50, 51.0), (".", 51.0)]);
        c.resync();
        // Paused for 30 s of host time: the guest's clock went on from 11.0, not 41.0.
        feed(&mut c, &[(&p90, 81.5), (".", 81.5), ("12.0 10.0", 82.0), (&p90, 82.0), (".", 82.0)]);
        feed(&mut c, &[(&p140, 82.5), (".", 82.5)]);
        let p = &c.series().procs["haproxy"];
        let at: Vec<(f64, f64)> = p.iter().map(|p| (p.uptime, p.cpu_pct)).collect();
        assert_eq!(at, [(11.0, 50.0), (12.5, 100.0)], "none across the pause, none off the guest clock");
        assert_eq!(c.progress().samples, 5);
    }

    #[test]
    fn a_restarted_agent_does_not_continue_the_old_deltas() {
        let mut c = Collector::default();
        feed(
            &mut c,
            &[
                ("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=1", 0.0),
                ("10.0 5.0", 0.0),
                (".", 0.0),
                ("H routerlab-metrics v3 clk_tck=100 page_kb=4 cpus=1", 0.5),
                ("11.0 9.0", 1.0),
                (".", 1.0),
                ("12.0 9.5", 2.0),
                (".", 2.0),
            ],
        );
        let g = c.series().guest;
        assert_eq!(g.len(), 1, "no point across the restart: {g:?}");
        assert!((g[0].cpu_pct - 50.0).abs() < 1e-9);
        assert_eq!(c.progress().headers, 2);
    }
}
