//! One future for "stop now": SIGINT (Ctrl-C), SIGTERM (a cancelled CI job, `kill`) or
//! SIGHUP (a closed terminal). Commands select on it so their `Drop`s tear the lab down and
//! partial results are written, whichever of the three arrives.

/// Completes with the signal's name when one of SIGINT, SIGTERM or SIGHUP arrives. A signal
/// whose handler cannot be installed is left to its default action.
pub async fn requested() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let wait = |kind: SignalKind| async move {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = wait(SignalKind::interrupt()) => "SIGINT",
        _ = wait(SignalKind::terminate()) => "SIGTERM",
        _ = wait(SignalKind::hangup()) => "SIGHUP",
    }
}
