//! The signal latch, in a process of its own: a raised signal latches for the whole process.

use harness::shutdown::{install, pending, requested};
use libc::{SIGHUP, SIGTERM};

#[test]
fn a_signal_before_anyone_waits_is_latched_not_lost() {
    install().unwrap();
    assert_eq!(pending(), None);
    // SAFETY: raising a signal whose handler is installed above.
    unsafe { libc::raise(SIGHUP) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), requested()).await });
    assert_eq!(got, Ok("SIGHUP"));
    assert_eq!(pending(), Some("SIGHUP"));
    // A second signal neither kills the process nor renames the stop.
    // SAFETY: as above.
    unsafe { libc::raise(SIGTERM) };
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(pending(), Some("SIGHUP"));
    // Every later waiter, on any runtime, sees it at once.
    let again = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(again.block_on(requested()), "SIGHUP");
}
