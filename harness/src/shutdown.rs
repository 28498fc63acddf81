//! One latch for "stop now": SIGINT (Ctrl-C), SIGTERM (a cancelled CI job, `kill`) or
//! SIGHUP (a closed terminal). Commands select on [`requested`] so their `Drop`s tear the
//! lab down and partial results are written, whichever of the three arrives.
//!
//! The handlers are installed once, eagerly, by [`install`], and stay: a signal that
//! arrives before anyone awaits [`requested`] (between two cells, or just after `lab up`
//! printed `ready`) is latched, not lost and not left to its default action, which would
//! kill the runner and leave its lab behind.

use std::sync::OnceLock;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::watch;

static LATCH: OnceLock<watch::Sender<Option<&'static str>>> = OnceLock::new();

/// The signal names, as reports and messages print them.
fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    }
}

fn latch() -> &'static watch::Sender<Option<&'static str>> {
    LATCH.get_or_init(|| watch::Sender::new(None))
}

/// Install the handlers for SIGINT, SIGTERM and SIGHUP (once per process; later calls do
/// nothing). From here on these signals only set the latch. Call it before anything that
/// must be torn down exists.
pub fn install() -> std::io::Result<()> {
    static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let tx = latch();
    std::thread::Builder::new().name("routerlab-signals".into()).spawn(move || {
        for sig in signals.forever() {
            // The first signal names the stop; later ones change nothing.
            tx.send_if_modified(|s| s.is_none() && s.replace(name(sig)).is_none());
        }
    })?;
    *installed = true;
    Ok(())
}

/// The signal that asked to stop, if one has.
pub fn pending() -> Option<&'static str> {
    *latch().borrow()
}

/// Completes with the signal's name once one of SIGINT, SIGTERM or SIGHUP has arrived,
/// at once if one already has. Installs the handlers if [`install`] was not called; if
/// they cannot be installed, the signals keep their default action and this never
/// completes.
pub async fn requested() -> &'static str {
    if let Err(e) = install() {
        tracing::warn!("cannot install signal handlers: {e}");
        std::future::pending::<()>().await;
    }
    let mut rx = latch().subscribe();
    let sig = rx.wait_for(Option::is_some).await.ok().and_then(|s| *s);
    match sig {
        Some(sig) => sig,
        // The sender lives in a static and is never dropped.
        None => std::future::pending().await,
    }
}
