//! QEMU TCG plugin: guest instructions executed, user and kernel apart, and the time the
//! vCPUs spent idle, answered on a unix socket. See README.md for the arguments and the
//! protocol.
//!
//! Counting is inline: at translation each block gets one `add n_insns` into its vCPU's
//! scoreboard entry, user or kernel by the block's start address. Nothing runs per
//! instruction, and no callback runs when a block executes. Where the image names its TLB
//! refill instruction (MIPS `tlbwr`), a block holding it gets a second add into a third
//! entry, which counts the guest's software TLB refills. Idle time comes from QEMU's
//! idle and resume callbacks: a clock read and an atomic store each time a vCPU halts.
// Unit tests build without the `register!` hook, so the QEMU-facing half is unused there.
#![cfg_attr(test, allow(dead_code))]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use qemu_plugin::install::{Args, Info};
use qemu_plugin::sys::{
    qemu_plugin_id_t, qemu_plugin_insn_data, qemu_plugin_num_vcpus, qemu_plugin_op, qemu_plugin_register_vcpu_idle_cb,
    qemu_plugin_register_vcpu_resume_cb, qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu,
    qemu_plugin_register_vcpu_tb_trans_cb, qemu_plugin_scoreboard_new, qemu_plugin_tb, qemu_plugin_tb_get_insn,
    qemu_plugin_tb_n_insns, qemu_plugin_tb_vaddr, qemu_plugin_u64, qemu_plugin_u64_sum,
};
use qemu_plugin::{HasCallbacks, PluginId, Register};

/// What the plugin was asked to do, from its `-plugin` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub sock: String,
    pub kernel_base: u64,
    /// The TLB refill instruction's bytes as the guest stores them, if the image names one.
    pub tlb_refill: Option<Vec<u8>>,
}

/// Parse `sock=PATH,kernel_base=0x...[,tlb_refill=HEX]` (as QEMU splits them: one
/// `key=value` per item).
pub fn parse_options(raw: &[String]) -> Result<Options, String> {
    let (mut sock, mut base, mut tlb) = (None, None, None);
    for item in raw {
        let (k, v) = item.split_once('=').ok_or_else(|| format!("argument {item:?} is not key=value"))?;
        match k {
            "sock" if !v.is_empty() => sock = Some(v.to_string()),
            "kernel_base" => base = Some(parse_u64(v).ok_or_else(|| format!("kernel_base={v}: not a number"))?),
            "tlb_refill" => tlb = Some(parse_bytes(v).ok_or_else(|| format!("tlb_refill={v}: not 1-16 bytes of hex"))?),
            _ => {
                return Err(format!("unknown argument {item:?} (expected sock=PATH, kernel_base=ADDR, tlb_refill=HEX)"))
            }
        }
    }
    Ok(Options {
        sock: sock.ok_or("sock=PATH is required")?,
        kernel_base: base.ok_or("kernel_base=ADDR is required")?,
        tlb_refill: tlb,
    })
}

/// `06000042` -> [0x06, 0x00, 0x00, 0x42]: bytes in the order written, 1 to 16 of them.
pub fn parse_bytes(v: &str) -> Option<Vec<u8>> {
    if v.is_empty() || !v.len().is_multiple_of(2) || v.len() > 32 || !v.is_ascii() {
        return None;
    }
    (0..v.len()).step_by(2).map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok()).collect()
}

fn parse_u64(v: &str) -> Option<u64> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The answer to one query: user and kernel totals, idle nanoseconds per vCPU, and the TLB
/// refills where they are counted.
pub fn answer(user: u64, kernel: u64, idle_ns: u64, tlb_refills: Option<u64>) -> String {
    match tlb_refills {
        Some(t) => format!("{user} {kernel} {idle_ns} {t}\n"),
        None => format!("{user} {kernel} {idle_ns}\n"),
    }
}

/// Idle time per vCPU (the routers run one; more than this many are not counted).
const MAX_VCPUS: usize = 64;

/// Each vCPU's idle nanoseconds so far, and since when it idles now (0: it runs), on a
/// clock of the plugin's own.
struct Idle {
    start: Instant,
    total: [AtomicU64; MAX_VCPUS],
    since: [AtomicU64; MAX_VCPUS],
}

impl Idle {
    fn new() -> Idle {
        Idle {
            start: Instant::now(),
            total: [const { AtomicU64::new(0) }; MAX_VCPUS],
            since: [const { AtomicU64::new(0) }; MAX_VCPUS],
        }
    }

    /// Nanoseconds on the plugin's clock, never 0 (which marks a running vCPU).
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1
    }

    fn halt(&self, vcpu: usize, now: u64) {
        if let Some(s) = self.since.get(vcpu) {
            s.store(now, Ordering::Relaxed);
        }
    }

    fn resume(&self, vcpu: usize, now: u64) {
        let Some(s) = self.since.get(vcpu) else { return };
        let since = s.swap(0, Ordering::Relaxed);
        if since > 0 {
            self.total[vcpu].fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// Idle nanoseconds per vCPU, over the first `vcpus`, counting an idle spell up to `now`.
    fn per_vcpu(&self, vcpus: usize, now: u64) -> u64 {
        let n = vcpus.clamp(1, MAX_VCPUS);
        let sum: u64 = (0..n)
            .map(|v| {
                let since = self.since[v].load(Ordering::Relaxed);
                self.total[v].load(Ordering::Relaxed) + if since > 0 { now.saturating_sub(since) } else { 0 }
            })
            .sum();
        sum / n as u64
    }
}

static IDLE: OnceLock<Idle> = OnceLock::new();

unsafe extern "C" fn on_idle(_id: qemu_plugin_id_t, vcpu: std::os::raw::c_uint) {
    if let Some(i) = IDLE.get() {
        i.halt(vcpu as usize, i.now());
    }
}

unsafe extern "C" fn on_resume(_id: qemu_plugin_id_t, vcpu: std::os::raw::c_uint) {
    if let Some(i) = IDLE.get() {
        i.resume(vcpu as usize, i.now());
    }
}

/// The per-vCPU counters, as scoreboard entries. QEMU owns the memory; the pointers stay
/// valid for the plugin's life (no vCPU hotplug on the routers we run).
#[derive(Clone, Copy)]
struct Counters {
    user: qemu_plugin_u64,
    kernel: qemu_plugin_u64,
    kernel_base: u64,
    /// Executions of the TLB refill instruction, and that instruction (leaked, 'static).
    tlb: Option<(qemu_plugin_u64, &'static [u8])>,
}
// SAFETY: the scoreboard is QEMU's, lives as long as the plugin, and its u64 slots are read
// with plain aligned loads (qemu_plugin_u64_sum) while vCPU threads add to them.
unsafe impl Send for Counters {}
unsafe impl Sync for Counters {}

static COUNTERS: OnceLock<Counters> = OnceLock::new();

unsafe extern "C" fn on_translate(_id: qemu_plugin_id_t, tb: *mut qemu_plugin_tb) {
    let Some(c) = COUNTERS.get() else { return };
    // SAFETY: QEMU passes a valid block handle for the duration of this callback.
    unsafe {
        let n = qemu_plugin_tb_n_insns(tb) as u64;
        let kernel = qemu_plugin_tb_vaddr(tb) >= c.kernel_base;
        let entry = if kernel { c.kernel } else { c.user };
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64, entry, n);
        // TLB refills run in the kernel; user blocks are never scanned.
        if let Some((tlb, insn)) = c.tlb.filter(|_| kernel) {
            let hits = matches_in(tb, n as usize, insn);
            if hits > 0 {
                qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
                    tb,
                    qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64,
                    tlb,
                    hits,
                );
            }
        }
    }
}

/// How many of the block's `n` instructions are exactly `want`.
///
/// # Safety
/// `tb` must be the block handle QEMU passed to the current translate callback.
unsafe fn matches_in(tb: *mut qemu_plugin_tb, n: usize, want: &[u8]) -> u64 {
    let mut buf = [0u8; 16];
    let mut hits = 0;
    for i in 0..n {
        // SAFETY: i < n_insns, and the handle is valid for this callback; data is copied.
        let got = unsafe {
            let insn = qemu_plugin_tb_get_insn(tb, i);
            qemu_plugin_insn_data(insn, buf.as_mut_ptr().cast(), buf.len())
        };
        hits += u64::from(got == want.len() && buf[..got] == *want);
    }
    hits
}

fn totals(c: &Counters) -> (u64, u64, Option<u64>) {
    // SAFETY: see `Counters`.
    unsafe { (qemu_plugin_u64_sum(c.user), qemu_plugin_u64_sum(c.kernel), c.tlb.map(|(t, _)| qemu_plugin_u64_sum(t))) }
}

fn serve(listener: UnixListener, c: Counters) {
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || reply(conn, c));
    }
}

fn reply(conn: UnixStream, c: Counters) {
    let Ok(mut out) = conn.try_clone() else { return };
    for line in BufReader::new(conn).lines() {
        if line.is_err() {
            return;
        }
        let (u, k, tlb) = totals(&c);
        let idle = IDLE.get().map_or(0, |i| {
            // SAFETY: a plain query of QEMU's vCPU count.
            let vcpus = unsafe { qemu_plugin_num_vcpus() }.max(1) as usize;
            i.per_vcpu(vcpus, i.now())
        });
        if out.write_all(answer(u, k, idle, tlb).as_bytes()).is_err() {
            return;
        }
    }
}

#[derive(Default)]
struct InsnCount;

impl HasCallbacks for InsnCount {}

impl Register for InsnCount {
    /// Only the translate callback: the crate's default also registers idle, resume,
    /// syscall and flush callbacks that would take a lock on every event.
    fn register_default(&mut self, id: PluginId, args: &Args, _info: &Info) -> qemu_plugin::Result<()> {
        start(id, &args.raw).map_err(|e| {
            // QEMU aborts on a failed install; say why on its stderr first.
            eprintln!("insn-count: {e}");
            qemu_plugin::Error::from(std::io::Error::other(e))
        })
    }
}

fn start(id: PluginId, raw: &[String]) -> Result<(), String> {
    let opts = parse_options(raw)?;
    let _ = std::fs::remove_file(&opts.sock);
    let listener = UnixListener::bind(&opts.sock).map_err(|e| format!("{}: {e}", opts.sock))?;
    // SAFETY: a scoreboard of three u64 per vCPU; QEMU allocates and zeroes it.
    let score = unsafe { qemu_plugin_scoreboard_new(24) };
    let c = Counters {
        user: qemu_plugin_u64 { score, offset: 0 },
        kernel: qemu_plugin_u64 { score, offset: 8 },
        kernel_base: opts.kernel_base,
        tlb: opts.tlb_refill.map(|b| (qemu_plugin_u64 { score, offset: 16 }, &*Vec::leak(b))),
    };
    COUNTERS.set(c).map_err(|_| "loaded twice".to_string())?;
    std::thread::Builder::new()
        .name("insn-count".into())
        .spawn(move || serve(listener, c))
        .map_err(|e| format!("thread: {e}"))?;
    let _ = IDLE.set(Idle::new());
    // SAFETY: registering plain C callbacks with QEMU.
    unsafe {
        qemu_plugin_register_vcpu_tb_trans_cb(id, Some(on_translate));
        qemu_plugin_register_vcpu_idle_cb(id, Some(on_idle));
        qemu_plugin_register_vcpu_resume_cb(id, Some(on_resume));
    }
    Ok(())
}

#[cfg(not(test))]
qemu_plugin::register!(InsnCount);

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_take_hex_and_decimal_bases() {
        let o = parse_options(&s(&["sock=/run/x/router.insn.sock", "kernel_base=0xffff000000000000"])).unwrap();
        let want =
            Options { sock: "/run/x/router.insn.sock".into(), kernel_base: 0xffff_0000_0000_0000, tlb_refill: None };
        assert_eq!(o, want);
        assert_eq!(parse_options(&s(&["kernel_base=2147483648", "sock=a"])).unwrap().kernel_base, 0x8000_0000);
    }

    #[test]
    fn options_name_what_is_wrong() {
        assert!(parse_options(&s(&["kernel_base=0x80000000"])).unwrap_err().contains("sock"));
        assert!(parse_options(&s(&["sock=a"])).unwrap_err().contains("kernel_base"));
        assert!(parse_options(&s(&["sock=a", "kernel_base=zz"])).unwrap_err().contains("not a number"));
        assert!(parse_options(&s(&["sock=a", "kernel_base=1", "verbose=1"])).unwrap_err().contains("verbose"));
        for bad in ["", "0", "06000g42", "0600004", &"00".repeat(17)] {
            let e = parse_options(&s(&["sock=a", "kernel_base=1", &format!("tlb_refill={bad}")])).unwrap_err();
            assert!(e.contains("not 1-16 bytes of hex"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_tlb_refill_instruction_is_bytes_in_the_order_given() {
        // MIPS `tlbwr` (0x42000006) as a little-endian guest stores it.
        let o = parse_options(&s(&["sock=a", "kernel_base=0x80000000", "tlb_refill=06000042"])).unwrap();
        assert_eq!(o.tlb_refill, Some(vec![0x06, 0x00, 0x00, 0x42]));
        assert_eq!(parse_bytes("42000006"), Some(vec![0x42, 0, 0, 0x06]));
    }

    #[test]
    fn answer_is_one_line_of_three_numbers_and_refills_only_where_counted() {
        assert_eq!(answer(12, 3_000_000_000, 7, None), "12 3000000000 7\n");
        assert_eq!(answer(12, 3_000_000_000, 7, Some(0)), "12 3000000000 7 0\n");
    }

    #[test]
    fn idle_time_counts_halted_spells_and_the_one_in_progress() {
        let i = Idle::new();
        i.halt(0, 100);
        i.resume(0, 400);
        i.resume(0, 500); // a resume without a halt adds nothing
        assert_eq!(i.per_vcpu(1, 1_000), 300);
        i.halt(0, 900);
        assert_eq!(i.per_vcpu(1, 1_000), 400, "idle since 900, asked at 1000");
        // Two vCPUs: the second idled 200 of the time; per vCPU is the mean.
        i.halt(1, 800);
        assert_eq!(i.per_vcpu(2, 1_000), 300);
        i.halt(MAX_VCPUS + 3, 10); // out of range: ignored, not a panic
        i.resume(MAX_VCPUS + 3, 20);
    }
}
