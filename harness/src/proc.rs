//! Children that die with routerlab. Each long-lived child (QEMU, boringtun, the backends,
//! the load generator) asks the kernel for SIGKILL when its parent goes (`PR_SET_PDEATHSIG`),
//! so even a SIGKILL of routerlab, which runs no teardown, leaves no process behind. The
//! request survives `ip netns exec`, which execs the program in the same process. What a
//! SIGKILL does leave, namespaces and links, the next `run` or `routerlab clean` removes
//! from the dead run's ledger.
//!
//! The kernel's "parent" is the thread that spawned the child: spawn from a thread that lives
//! as long as the child should (a tokio worker, or the main thread), not from a
//! `spawn_blocking` pool thread that may retire while the child runs.
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// Arrange for `cmd`'s process to get SIGKILL when the spawning thread exits. If the parent
/// is already gone by the time the child runs, the child does not start.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (prctl, getppid) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes)] // never waited on by design: the kernel must kill it
    fn the_child_dies_when_its_spawning_thread_ends() {
        let pid = std::thread::spawn(|| {
            let child = die_with_parent(Command::new("sleep").arg("30")).spawn().unwrap();
            child.id()
        })
        .join()
        .unwrap();
        let gone = |pid: u32| {
            // A zombie (reaped by nobody here) counts as gone: it no longer runs.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
                .unwrap_or(true)
        };
        let t0 = std::time::Instant::now();
        while !gone(pid) && t0.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone(pid), "sleep {pid} outlived the thread that spawned it");
    }
}
