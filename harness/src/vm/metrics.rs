//! The guest metrics agent's stream (see images/rootfs/metrics-agent.sh) parsed into time
//! series, plus the QEMU process's own CPU and RSS sampled from the host's /proc.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;

/// Guest kernel ticks per second (USER_HZ is 100 on every Linux ABI).
const GUEST_HZ: f64 = 100.0;

#[derive(Debug, Clone, PartialEq)]
pub enum MetricLine {
    Header { interval_ms: u64 },
    Stat { uptime: f64, jiffies: [u64; 8] },
    Mem { uptime: f64, total_kb: u64, available_kb: u64, free_kb: u64 },
    Proc { uptime: f64, name: String, pid: u32, ticks: u64, rss_kb: u64, threads: u32 },
}

/// Parse one agent line; `None` for anything else (e.g. noise while the port opens).
pub fn parse_line(line: &str) -> Option<MetricLine> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let f = |i: usize| w.get(i).and_then(|s| s.parse::<f64>().ok());
    let u = |i: usize| w.get(i).and_then(|s| s.parse::<u64>().ok());
    match *w.first()? {
        "H" => Some(MetricLine::Header {
            interval_ms: w.iter().find_map(|x| x.strip_prefix("interval_ms=")?.parse().ok())?,
        }),
        "S" if w.len() == 10 => {
            let mut j = [0u64; 8];
            for (k, slot) in j.iter_mut().enumerate() {
                *slot = u(k + 2)?;
            }
            Some(MetricLine::Stat { uptime: f(1)?, jiffies: j })
        }
        "M" if w.len() == 5 => {
            Some(MetricLine::Mem { uptime: f(1)?, total_kb: u(2)?, available_kb: u(3)?, free_kb: u(4)? })
        }
        "P" if w.len() == 7 => Some(MetricLine::Proc {
            uptime: f(1)?,
            name: w[2].to_string(),
            pid: u(3)? as u32,
            ticks: u(4)?,
            rss_kb: u(5)?,
            threads: u(6)? as u32,
        }),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GuestPoint {
    pub uptime: f64,
    /// Busy share of all guest CPUs since the previous sample, percent.
    pub cpu_pct: f64,
    pub mem_total_kb: u64,
    pub mem_available_kb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProcPoint {
    pub uptime: f64,
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
    last_stat: Option<(f64, [u64; 8])>,
    guest: Vec<GuestPoint>,
    last_mem: (u64, u64),
    last_proc: BTreeMap<u32, (f64, u64)>,
    procs: BTreeMap<String, Vec<ProcPoint>>,
    last_host: Option<(f64, u64)>,
    host: Vec<HostPoint>,
    /// Samples the agent has sent (S lines), and its interval from the header.
    samples: usize,
    interval_ms: Option<u64>,
}

/// How far the metrics agent has got: samples received, and its sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentProgress {
    pub samples: usize,
    pub interval_ms: Option<u64>,
}

impl Collector {
    pub fn push(&mut self, line: MetricLine) {
        match line {
            MetricLine::Header { interval_ms } => self.interval_ms = Some(interval_ms),
            MetricLine::Mem { total_kb, available_kb, .. } => self.last_mem = (total_kb, available_kb),
            MetricLine::Stat { uptime, jiffies } => {
                self.samples += 1;
                if let Some((_, prev)) = self.last_stat {
                    let total: u64 = jiffies.iter().sum::<u64>().saturating_sub(prev.iter().sum());
                    let idle = (jiffies[3] + jiffies[4]).saturating_sub(prev[3] + prev[4]);
                    let cpu_pct =
                        if total > 0 { 100.0 * total.saturating_sub(idle) as f64 / total as f64 } else { 0.0 };
                    self.guest.push(GuestPoint {
                        uptime,
                        cpu_pct,
                        mem_total_kb: self.last_mem.0,
                        mem_available_kb: self.last_mem.1,
                    });
                }
                self.last_stat = Some((uptime, jiffies));
            }
            MetricLine::Proc { uptime, name, pid, ticks, rss_kb, threads } => {
                if let Some((t0, k0)) = self.last_proc.insert(pid, (uptime, ticks)) {
                    let dt = uptime - t0;
                    if dt > 0.0 {
                        let cpu_pct = 100.0 * ticks.saturating_sub(k0) as f64 / GUEST_HZ / dt;
                        self.procs.entry(name).or_default().push(ProcPoint { uptime, pid, cpu_pct, rss_kb, threads });
                    }
                }
            }
        }
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
        AgentProgress { samples: self.samples, interval_ms: self.interval_ms }
    }

    pub fn series(&self) -> MetricsSeries {
        MetricsSeries { guest: self.guest.clone(), procs: self.procs.clone(), host: self.host.clone() }
    }
}

/// Read the agent's stream from QEMU's socket into `collector`, keeping a raw log.
pub(crate) async fn attach(sock: &Path, log: &Path, collector: Arc<Mutex<Collector>>) -> std::io::Result<()> {
    let stream = UnixStream::connect(sock).await?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim_end_matches('\r');
            let _ = writeln!(file, "{line}");
            if let Some(m) = parse_line(line) {
                collector.lock().expect("metrics lock").push(m);
            }
        }
    });
    Ok(())
}

/// Sample the QEMU process (utime+stime, VmRSS) every 500 ms until it is gone.
pub(crate) fn sample_host(pid: u32, collector: Arc<Mutex<Collector>>) {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let t0 = Instant::now();
    tokio::spawn(async move {
        loop {
            let Some((ticks, rss)) = read_proc(pid) else { break };
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

    #[test]
    fn parses_agent_lines() {
        assert_eq!(
            parse_line("H routerlab-metrics v1 clk_tck=100 interval_ms=500"),
            Some(MetricLine::Header { interval_ms: 500 })
        );
        assert!(matches!(
            parse_line("S 1.83 11 0 144 19 0 0 0 0"),
            Some(MetricLine::Stat { jiffies: [11, 0, 144, 19, 0, 0, 0, 0], .. })
        ));
        assert_eq!(
            parse_line("P 2.5 haproxy 81 120 5120 2"),
            Some(MetricLine::Proc {
                uptime: 2.5,
                name: "haproxy".into(),
                pid: 81,
                ticks: 120,
                rss_kb: 5120,
                threads: 2
            })
        );
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(parse_line("S 1 2 3"), None);
    }

    #[test]
    fn cpu_percentages_from_deltas() {
        let mut c = Collector::default();
        for l in [
            "M 1.0 1000 800 700",
            "S 1.0 100 0 0 100 0 0 0 0",
            "P 1.0 loop 9 0 100 1",
            "S 2.0 175 0 0 125 0 0 0 0",
            "P 2.0 loop 9 75 100 1",
        ] {
            c.push(parse_line(l).unwrap());
        }
        let s = c.series();
        assert_eq!(c.progress(), AgentProgress { samples: 2, interval_ms: None }, "S lines count as samples");
        c.push(parse_line("H routerlab-metrics v1 clk_tck=100 interval_ms=500").unwrap());
        assert_eq!(c.progress().interval_ms, Some(500));
        assert_eq!(s.guest.len(), 1);
        assert!((s.guest[0].cpu_pct - 75.0).abs() < 1e-9, "{:?}", s.guest);
        assert_eq!(s.guest[0].mem_available_kb, 800);
        assert!((s.procs["loop"][0].cpu_pct - 75.0).abs() < 1e-9);
        c.push_host(0.0, 0, 10, 100.0);
        c.push_host(0.5, 25, 12, 100.0);
        assert!((c.series().host[0].cpu_pct - 50.0).abs() < 1e-9);
    }
}
