use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::config::Stop;
use super::stats::{SharedStats, WorkerStats};
use super::worker::Ctx;

/// Live rate, p99 and errors on stderr, only when stderr is a terminal.
pub(crate) fn spawn(ctx: Arc<Ctx>, stats: Vec<SharedStats>) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    if !ctx.cfg.progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let (len, by_count) = match ctx.cfg.stop {
        Stop::Requests(n) => (n, true),
        Stop::After(d) => (d.as_millis() as u64, false),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
        .expect("static template")
        .progress_chars("=> ");
    bar.set_style(style);
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut last = 0u64;
        let tick = Duration::from_millis(250);
        loop {
            tokio::time::sleep(tick).await;
            let done = ctx.completed.load(Ordering::Relaxed);
            let failed = ctx.failed.load(Ordering::Relaxed);
            let rate = (done - last) as f64 / tick.as_secs_f64();
            last = done;
            let p99 = WorkerStats::merged(&stats).total.quantile(0.99) as f64 / 1000.0;
            b.set_position(if by_count { done } else { ctx.t0.elapsed().as_millis() as u64 });
            b.set_message(format!("{done} req  {rate:.0}/s  p99 {p99:.1}ms  errors {failed}"));
        }
    });
    Some((bar, task))
}
