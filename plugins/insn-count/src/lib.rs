//! QEMU TCG plugin: guest instructions executed, user and kernel apart, answered on a unix
//! socket. See README.md for the arguments and the protocol.
//!
//! Counting is inline: at translation each block gets one `add n_insns` into its vCPU's
//! scoreboard entry, user or kernel by the block's start address. Nothing runs per
//! instruction, and no callback runs when a block executes.
// Unit tests build without the `register!` hook, so the QEMU-facing half is unused there.
#![cfg_attr(test, allow(dead_code))]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::OnceLock;

use qemu_plugin::install::{Args, Info};
use qemu_plugin::sys::{
    qemu_plugin_id_t, qemu_plugin_op, qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu,
    qemu_plugin_register_vcpu_tb_trans_cb, qemu_plugin_scoreboard_new, qemu_plugin_tb, qemu_plugin_tb_n_insns,
    qemu_plugin_tb_vaddr, qemu_plugin_u64, qemu_plugin_u64_sum,
};
use qemu_plugin::{HasCallbacks, PluginId, Register};

/// What the plugin was asked to do, from its `-plugin` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub sock: String,
    pub kernel_base: u64,
}

/// Parse `sock=PATH,kernel_base=0x...` (as QEMU splits them: one `key=value` per item).
pub fn parse_options(raw: &[String]) -> Result<Options, String> {
    let (mut sock, mut base) = (None, None);
    for item in raw {
        let (k, v) = item.split_once('=').ok_or_else(|| format!("argument {item:?} is not key=value"))?;
        match k {
            "sock" if !v.is_empty() => sock = Some(v.to_string()),
            "kernel_base" => base = Some(parse_u64(v).ok_or_else(|| format!("kernel_base={v}: not a number"))?),
            _ => return Err(format!("unknown argument {item:?} (expected sock=PATH, kernel_base=ADDR)")),
        }
    }
    Ok(Options { sock: sock.ok_or("sock=PATH is required")?, kernel_base: base.ok_or("kernel_base=ADDR is required")? })
}

fn parse_u64(v: &str) -> Option<u64> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The answer to one query: user and kernel totals.
pub fn answer(user: u64, kernel: u64) -> String {
    format!("{user} {kernel}\n")
}

/// The two per-vCPU counters, as scoreboard entries. QEMU owns the memory; the pointers
/// stay valid for the plugin's life (no vCPU hotplug on the routers we run).
#[derive(Clone, Copy)]
struct Counters {
    user: qemu_plugin_u64,
    kernel: qemu_plugin_u64,
    kernel_base: u64,
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
        let entry = if qemu_plugin_tb_vaddr(tb) >= c.kernel_base { c.kernel } else { c.user };
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64, entry, n);
    }
}

fn totals(c: &Counters) -> (u64, u64) {
    // SAFETY: see `Counters`.
    unsafe { (qemu_plugin_u64_sum(c.user), qemu_plugin_u64_sum(c.kernel)) }
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
        let (u, k) = totals(&c);
        if out.write_all(answer(u, k).as_bytes()).is_err() {
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
    // SAFETY: a scoreboard of two u64 per vCPU; QEMU allocates and zeroes it.
    let score = unsafe { qemu_plugin_scoreboard_new(16) };
    let c = Counters {
        user: qemu_plugin_u64 { score, offset: 0 },
        kernel: qemu_plugin_u64 { score, offset: 8 },
        kernel_base: opts.kernel_base,
    };
    COUNTERS.set(c).map_err(|_| "loaded twice".to_string())?;
    std::thread::Builder::new()
        .name("insn-count".into())
        .spawn(move || serve(listener, c))
        .map_err(|e| format!("thread: {e}"))?;
    // SAFETY: registering a plain C callback with QEMU.
    unsafe { qemu_plugin_register_vcpu_tb_trans_cb(id, Some(on_translate)) };
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
        assert_eq!(o, Options { sock: "/run/x/router.insn.sock".into(), kernel_base: 0xffff_0000_0000_0000 });
        assert_eq!(parse_options(&s(&["kernel_base=2147483648", "sock=a"])).unwrap().kernel_base, 0x8000_0000);
    }

    #[test]
    fn options_name_what_is_wrong() {
        assert!(parse_options(&s(&["kernel_base=0x80000000"])).unwrap_err().contains("sock"));
        assert!(parse_options(&s(&["sock=a"])).unwrap_err().contains("kernel_base"));
        assert!(parse_options(&s(&["sock=a", "kernel_base=zz"])).unwrap_err().contains("not a number"));
        assert!(parse_options(&s(&["sock=a", "kernel_base=1", "verbose=1"])).unwrap_err().contains("verbose"));
    }

    #[test]
    fn answer_is_one_line_of_two_numbers() {
        assert_eq!(answer(12, 3_000_000_000), "12 3000000000\n");
    }
}
