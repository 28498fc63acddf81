//! Guest instruction counts from the `insn-count` QEMU plugin (plugins/insn-count): where the
//! plugin is, its `-plugin` argument, and the host side of its socket, read on demand at
//! phase boundaries and about ten times a second for plots.
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File name of the plugin as cargo builds it (cdylib `insn_count`).
pub const PLUGIN_FILE: &str = "libinsn_count.so";
/// Overrides where the plugin is looked for.
pub const PLUGIN_ENV: &str = "ROUTERLAB_INSN_PLUGIN";
/// How often the sampler reads the counters.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What the image recipe tells the plugin about the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestIsa {
    /// Lowest kernel address: splits user from kernel.
    pub kernel_base: u64,
    /// The TLB refill instruction's bytes in hex, where the kernel refills in software.
    pub tlb_refill: Option<String>,
}

/// Whether a VM counts instructions, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsnSetup {
    /// Load the plugin, told about the guest by its image.
    Load { lib: PathBuf, isa: GuestIsa },
    /// Not counted, and why (said in every report instead of a zero).
    Unavailable(String),
}

impl Default for InsnSetup {
    fn default() -> Self {
        InsnSetup::Unavailable("not requested".into())
    }
}

/// The `-plugin` value: `LIB,sock=SOCK,kernel_base=0x...[,tlb_refill=HEX]`. QEMU splits it
/// on commas, so a path with a comma cannot be passed; that is an error, not a silently
/// wrong argument.
pub fn plugin_arg(lib: &Path, sock: &Path, isa: &GuestIsa) -> Result<String, String> {
    for p in [lib, sock] {
        if p.to_string_lossy().contains(',') {
            return Err(format!("{}: QEMU cannot take a plugin path with a comma", p.display()));
        }
    }
    let tlb = isa.tlb_refill.as_deref().map(|t| format!(",tlb_refill={t}")).unwrap_or_default();
    Ok(format!("{},sock={},kernel_base={:#x}{tlb}", lib.display(), sock.display(), isa.kernel_base))
}

/// The plugin beside `exe` (cargo puts both in target/release), or `$ROUTERLAB_INSN_PLUGIN`.
pub fn find_plugin(exe: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(PLUGIN_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("{PLUGIN_ENV}={} does not exist", p.display())) };
    }
    let p = exe.parent().unwrap_or(Path::new(".")).join(PLUGIN_FILE);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("plugin not built: {} is missing (cargo build --release builds it)", p.display()))
    }
}

/// Counter totals at one moment, `t` seconds after QEMU started (the host sampler's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InsnReading {
    pub t: f64,
    pub user: u64,
    pub kernel: u64,
    /// Seconds the vCPUs spent idle so far (their mean), if the plugin says.
    #[serde(default)]
    pub idle_s: Option<f64>,
    /// TLB refills so far, where the image names its refill instruction (MIPS `tlbwr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlb_refills: Option<u64>,
}

impl InsnReading {
    pub fn total(&self) -> u64 {
        self.user + self.kernel
    }

    /// TLB refills since `earlier`, if both readings count them.
    pub fn tlb_refills_since(&self, earlier: &InsnReading) -> Option<u64> {
        self.tlb_refills?.checked_sub(earlier.tlb_refills?)
    }

    /// The guest's CPU busy share from `self` to `later`, percent, if both carry idle time.
    pub fn busy_pct(&self, later: &InsnReading) -> Option<f64> {
        busy_pct_over(&[], self, later)
    }
}

/// The guest CPU's busy share from `a` to `b`, percent, with the time it was frozen (QMP
/// `stop`, a `pause-router` fault) counted as not busy: a frozen vCPU neither idles nor
/// runs, so by idle time alone it would read as busy. Wherever `series` shows an interval
/// in which no instruction ran, none of it was busy, whatever the idle time says.
pub fn busy_pct_over(series: &[InsnReading], a: &InsnReading, b: &InsnReading) -> Option<f64> {
    let (dt, idle) = (b.t - a.t, b.idle_s? - a.idle_s?);
    let frozen: f64 = series
        .windows(2)
        .filter(|w| w[0].t >= a.t && w[1].t <= b.t && w[0].total() == w[1].total())
        .map(|w| ((w[1].t - w[0].t) - (w[1].idle_s.unwrap_or(0.0) - w[0].idle_s.unwrap_or(0.0))).max(0.0))
        .sum();
    (dt > 0.0).then(|| (100.0 * (1.0 - (idle + frozen) / dt)).clamp(0.0, 100.0))
}

/// User instructions a guest at rest may still execute over the quiet time.
pub const STILL_USER: u64 = 2_000;

/// Watches readings until the guest is at rest: its user-mode count stands (nearly) still
/// while its vCPUs idle, for `quiet` seconds. A console command's count is only exact
/// between two such moments; otherwise the shell's prompt and line editing (about 250 k
/// instructions on mipsel) fall in or out of the window by a race with the host.
/// "Nearly": a paused metrics agent still wakes now and then for about a hundred user
/// instructions, which must not restart the wait.
#[derive(Debug)]
pub struct Settle {
    quiet: f64,
    first: Option<InsnReading>,
}

impl Settle {
    pub fn new(quiet: Duration) -> Settle {
        Settle { quiet: quiet.as_secs_f64(), first: None }
    }

    /// Feed the next reading; once at rest, the first and the latest reading of the rest.
    /// Idle time is required so that a VM the host did not schedule is not taken as at
    /// rest (a plugin without idle time: the user count alone decides).
    pub fn feed(&mut self, r: InsnReading) -> Option<(InsnReading, InsnReading)> {
        let first = match &self.first {
            Some(f) if r.user.saturating_sub(f.user) <= STILL_USER => f,
            _ => {
                self.first = Some(r);
                return None;
            }
        };
        let span = r.t - first.t;
        let idled = match (first.idle_s, r.idle_s) {
            (Some(a), Some(b)) => b - a >= span / 2.0,
            _ => true,
        };
        (span >= self.quiet && idled).then_some((*first, r))
    }
}

/// The plugin's answer to one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub user: u64,
    pub kernel: u64,
    /// Idle nanoseconds per vCPU (an older plugin does not send them).
    pub idle_ns: Option<u64>,
    /// TLB refills, sent only where the image names its refill instruction.
    pub tlb_refills: Option<u64>,
}

/// Parse the plugin's answer line `<user> <kernel> [<idle_ns> [<tlb_refills>]]`.
pub fn parse_answer(line: &str) -> Option<Answer> {
    let mut w = line.split_whitespace();
    let (user, kernel) = (w.next()?.parse().ok()?, w.next()?.parse().ok()?);
    let mut next = || -> Option<Option<u64>> {
        match w.next() {
            Some(x) => x.parse().ok().map(Some),
            None => Some(None),
        }
    };
    let (idle_ns, tlb_refills) = (next()?, next()?);
    w.next().is_none().then_some(Answer { user, kernel, idle_ns, tlb_refills })
}

/// One connection to the plugin's socket.
pub struct InsnClient {
    conn: Mutex<(UnixStream, BufReader<UnixStream>)>,
    origin: Instant,
}

impl InsnClient {
    /// Connect; `origin` is when QEMU started, so readings share the host sampler's clock.
    pub fn connect(sock: &Path, origin: Instant) -> std::io::Result<InsnClient> {
        let s = UnixStream::connect(sock)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let r = BufReader::new(s.try_clone()?);
        Ok(InsnClient { conn: Mutex::new((s, r)), origin })
    }

    pub fn read(&self) -> std::io::Result<InsnReading> {
        let mut g = self.conn.lock().expect("insn lock");
        g.0.write_all(b"\n")?;
        let mut line = String::new();
        g.1.read_line(&mut line)?;
        let t = self.origin.elapsed().as_secs_f64();
        let a = parse_answer(&line)
            .ok_or_else(|| std::io::Error::other(format!("insn-count answered {:?}", line.trim())))?;
        let idle_s = a.idle_ns.map(|ns| ns as f64 / 1e9);
        Ok(InsnReading { t, user: a.user, kernel: a.kernel, idle_s, tlb_refills: a.tlb_refills })
    }
}

/// The counters of a running VM: on-demand reads plus a background series.
pub struct InsnCounter {
    client: Arc<InsnClient>,
    series: Arc<Mutex<Vec<InsnReading>>>,
    stop: Arc<AtomicBool>,
}

impl InsnCounter {
    /// Connect and start sampling every [`SAMPLE_EVERY`] until dropped or the socket fails.
    pub fn start(sock: &Path, origin: Instant) -> std::io::Result<InsnCounter> {
        let client = Arc::new(InsnClient::connect(sock, origin)?);
        client.read()?; // the plugin answers, or we say why not now
        let (series, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (c, s, st) = (client.clone(), series.clone(), stop.clone());
        std::thread::Builder::new().name("insn-sampler".into()).spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match c.read() {
                    Ok(r) => s.lock().expect("insn series").push(r),
                    Err(_) => return, // QEMU is gone
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        })?;
        Ok(InsnCounter { client, series, stop })
    }

    pub fn read(&self) -> std::io::Result<InsnReading> {
        self.client.read()
    }

    /// A copy of the samples so far.
    pub fn series(&self) -> Vec<InsnReading> {
        self.series.lock().expect("insn series").clone()
    }
}

impl Drop for InsnCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_arg_is_lib_then_key_values_in_hex() {
        let mut isa = GuestIsa { kernel_base: 0x8000_0000, tlb_refill: None };
        let a = plugin_arg(Path::new("/t/libinsn_count.so"), Path::new("/r/router.insn.sock"), &isa).unwrap();
        assert_eq!(a, "/t/libinsn_count.so,sock=/r/router.insn.sock,kernel_base=0x80000000");
        isa.tlb_refill = Some("06000042".into());
        let a = plugin_arg(Path::new("/t/l.so"), Path::new("/r/s"), &isa).unwrap();
        assert_eq!(a, "/t/l.so,sock=/r/s,kernel_base=0x80000000,tlb_refill=06000042");
        assert!(plugin_arg(Path::new("/a,b/lib.so"), Path::new("/r/s"), &isa).unwrap_err().contains("comma"));
    }

    #[test]
    fn answers_are_counts_then_idle_time_then_tlb_refills_and_nothing_else() {
        let ans = |idle_ns, tlb_refills| Some(Answer { user: 12, kernel: 34, idle_ns, tlb_refills });
        assert_eq!(parse_answer("12 34 5\n"), ans(Some(5), None));
        assert_eq!(parse_answer("12 34\n"), ans(None, None), "an older plugin");
        assert_eq!(parse_answer("12 34 5 6\n"), ans(Some(5), Some(6)), "with TLB refills");
        assert_eq!(parse_answer("12\n"), None);
        assert_eq!(parse_answer("12 34 5 6 7\n"), None);
        assert_eq!(parse_answer("12 34 x\n"), None);
        assert_eq!(parse_answer("12 34 5 x\n"), None);
        assert_eq!(parse_answer("-1 3\n"), None);
    }

    #[test]
    fn busy_share_is_what_the_vcpus_did_not_idle() {
        let at = |t, idle_s| InsnReading { t, user: 0, kernel: 0, idle_s, tlb_refills: None };
        assert_eq!(at(10.0, Some(4.0)).busy_pct(&at(12.0, Some(4.5))), Some(75.0));
        assert_eq!(at(10.0, Some(4.0)).busy_pct(&at(12.0, None)), None, "no idle time, no share");
        assert_eq!(at(10.0, Some(4.0)).busy_pct(&at(10.0, Some(4.0))), None, "no time between");
    }

    #[test]
    fn a_missing_plugin_is_named() {
        let d = tempfile::tempdir().unwrap();
        let e = find_plugin(&d.path().join("routerlab")).unwrap_err();
        assert!(e.contains(&d.path().join(PLUGIN_FILE).display().to_string()), "{e}");
        std::fs::write(d.path().join(PLUGIN_FILE), b"").unwrap();
        assert_eq!(find_plugin(&d.path().join("routerlab")).unwrap(), d.path().join(PLUGIN_FILE));
    }

    #[test]
    fn the_client_speaks_the_plugins_protocol() {
        // A stand-in for the plugin's socket: answers each line with a growing count.
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("x.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut out = s.try_clone().unwrap();
            for (i, line) in BufReader::new(s).lines().enumerate() {
                line.unwrap();
                out.write_all(format!("{} {}\n", 100 * (i + 1), 7 * (i + 1)).as_bytes()).unwrap();
            }
        });
        let c = InsnCounter::start(&sock, Instant::now()).unwrap();
        let r = c.read().unwrap();
        assert!(r.user >= 200 && r.kernel >= 14 && r.user / 100 == r.kernel / 7, "{r:?}");
        std::thread::sleep(SAMPLE_EVERY * 3);
        let s = c.series();
        assert!(s.len() >= 2 && s.windows(2).all(|w| w[1].user > w[0].user && w[1].t >= w[0].t), "{s:?}");
    }

    #[test]
    fn rest_is_a_still_user_count_while_the_vcpus_idle() {
        let at = |t, user, idle_s| InsnReading { t, user, kernel: 0, idle_s, tlb_refills: None };
        let mut s = Settle::new(Duration::from_millis(100));
        assert_eq!(s.feed(at(1.00, 10, Some(0.0))), None);
        assert_eq!(s.feed(at(1.05, 90_000, Some(0.0))), None, "the shell still runs");
        assert_eq!(s.feed(at(1.10, 90_000, Some(0.04))), None, "not quiet long enough");
        assert_eq!(s.feed(at(1.20, 90_100, Some(0.06))), None, "still, but the vCPU was not idle: a host stall");
        let (first, last) = s.feed(at(1.30, 90_000 + STILL_USER, Some(0.20))).unwrap();
        assert_eq!((first.t, last.t), (1.05, 1.30), "the rest began at the first still reading");
        let mut s = Settle::new(Duration::from_millis(100));
        s.feed(at(1.0, 5, Some(0.0)));
        assert_eq!(s.feed(at(1.1, 6 + STILL_USER, Some(0.1))), None, "more than a wake-up: still running");
        let mut s = Settle::new(Duration::from_millis(100));
        s.feed(at(1.0, 5, None));
        assert!(s.feed(at(1.1, 5, None)).is_some(), "without idle time the count decides");
    }

    #[test]
    fn frozen_time_is_not_busy() {
        let at = |t, n, idle| InsnReading { t, user: n, kernel: n, idle_s: Some(idle), tlb_refills: None };
        // 10 s: busy 0-4, frozen 4-6 (nothing ran, no idle time), half idle 6-10.
        let s = [at(0.0, 0, 0.0), at(4.0, 400, 0.0), at(5.0, 400, 0.0), at(6.0, 400, 0.0), at(10.0, 800, 2.0)];
        assert_eq!(busy_pct_over(&s, &s[0], &s[4]), Some(60.0), "4 s busy + 2 s of the half-idle 4 s");
        assert_eq!(s[0].busy_pct(&s[4]), Some(80.0), "idle time alone takes the freeze for work");
        assert_eq!(busy_pct_over(&s, &s[1], &s[3]), Some(0.0));
        // Frozen while idle: the plugin's idle time ran on for part of the interval.
        let part = [at(0.0, 0, 0.0), at(1.0, 0, 0.3)];
        assert_eq!(busy_pct_over(&part, &part[0], &part[1]), Some(0.0), "no instruction ran");
        let no_idle = InsnReading { idle_s: None, ..s[4] };
        assert_eq!(busy_pct_over(&s, &s[0], &no_idle), None);
    }
}
