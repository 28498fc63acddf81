//! The host's half of the guest metrics agent (images/rootfs/metrics-agent.sh). The host
//! asks for each sample (`t`, and `t m` with the guest's memory every [`MEM_EVERY`]th) and
//! names the processes to watch (`w NAME...`), so the guest runs no clock, timer or shell
//! loop of its own: between samples the agent sleeps in read(2). Pausing stops the asking,
//! which is how a cell measures the guest's background without the agent.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::metrics::Collector;

/// How often the host asks for a sample.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// The asks repeat in cycles of this many samples: the first also takes the guest's memory
/// and clock, the middle one its clock (see [`ask_line`]).
pub const CYCLE: u64 = 8;
/// An unanswered ask is given up after this many intervals (a restarting agent, a lost line).
const GIVE_UP: u32 = 4;

enum Msg {
    Watch(String),
    Pause(bool),
    Ask(&'static str),
    Clock,
}

/// A handle on the agent's driver; dropping every handle ends it.
#[derive(Clone)]
pub(crate) struct AgentLink {
    tx: mpsc::UnboundedSender<Msg>,
}

impl AgentLink {
    /// Drive the agent through `port`, reading its progress from `collector`.
    pub fn start(port: OwnedWriteHalf, collector: Arc<Mutex<Collector>>) -> AgentLink {
        collector.lock().expect("metrics lock").set_interval(INTERVAL);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(port, collector, rx));
        AgentLink { tx }
    }

    /// Watch the processes named `names` from now on (none: watch nothing). Sent again if
    /// the agent restarts.
    pub fn watch(&self, names: &[&str]) {
        let _ = self.tx.send(Msg::Watch(watch_line(names)));
    }

    /// Stop (or resume) asking for samples.
    pub fn pause(&self, paused: bool) {
        let _ = self.tx.send(Msg::Pause(paused));
    }

    /// Take the guest's clock with the next sample, whatever the cycle (after a pause).
    pub fn clock_next(&self) {
        let _ = self.tx.send(Msg::Clock);
    }

    /// Ask for one sample now with `line` (an [`ask_line`]), paused or not: how a cell
    /// measures one sample's cost on its own.
    pub fn ask(&self, line: &'static str) {
        let _ = self.tx.send(Msg::Ask(line));
    }
}

/// The `w` message for `names`.
pub fn watch_line(names: &[&str]) -> String {
    std::iter::once("w").chain(names.iter().copied()).collect::<Vec<_>>().join(" ") + "\n"
}

/// The ask for sample number `n` (from 0). The guest's clock (/proc/uptime, which also gives
/// its CPU %) comes with every fourth sample, about a fifth of a plain sample's cost; the
/// host puts the samples between on the guest's clock from its own. Its memory
/// (/proc/meminfo, the dearest file the agent reads: about 50 k guest instructions) comes
/// with every eighth: memory moves slowly.
pub fn ask_line(n: u64) -> &'static str {
    match n % CYCLE {
        0 => "t m u\n",
        4 => "t u\n",
        _ => "t\n",
    }
}

/// `ask`, with the guest's clock if `clock` and it has none.
fn with_clock(ask: &'static str, clock: bool) -> &'static str {
    if clock && ask == "t\n" {
        "t u\n"
    } else {
        ask
    }
}

/// Whether to ask now: never before the agent has said hello or while paused, and with at
/// most one ask in flight, so a busy guest answers late rather than in a burst.
fn should_ask(samples: usize, awaited: Option<(usize, Instant)>, paused: bool, now: Instant) -> bool {
    !paused && awaited.is_none_or(|(want, at)| samples >= want || now.duration_since(at) >= INTERVAL * GIVE_UP)
}

async fn drive(mut port: OwnedWriteHalf, collector: Arc<Mutex<Collector>>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut every = tokio::time::interval(INTERVAL);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut paused, mut watch, mut headers, mut n, mut clock) = (false, None::<String>, 0, 0u64, false);
    let mut awaited = None;
    loop {
        let out = tokio::select! {
            msg = rx.recv() => match msg {
                None => return,
                Some(Msg::Pause(p)) => { paused = p; None }
                Some(Msg::Clock) => { clock = true; None }
                Some(Msg::Watch(line)) => Some(watch.insert(line).clone()).filter(|_| headers > 0),
                Some(Msg::Ask(line)) => {
                    let p = collector.lock().expect("metrics lock").progress();
                    awaited = Some((p.samples + 1, Instant::now()));
                    Some(line.to_string()).filter(|_| p.headers > 0)
                }
            },
            _ = every.tick() => {
                let p = collector.lock().expect("metrics lock").progress();
                let mut out = String::new();
                if p.headers != headers {
                    // The agent (re)started: it knows no names and owes no answer.
                    (headers, awaited) = (p.headers, None);
                    out.extend(watch.clone());
                }
                if headers > 0 && should_ask(p.samples, awaited, paused, Instant::now()) {
                    out.push_str(with_clock(ask_line(n), std::mem::take(&mut clock)));
                    (n, awaited) = (n + 1, Some((p.samples + 1, Instant::now())));
                }
                Some(out).filter(|o| !o.is_empty())
            }
        };
        if let Some(out) = out {
            if port.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_rides_with_every_fourth_sample_and_memory_with_every_eighth() {
        let asks: Vec<_> = (0..10).map(ask_line).collect();
        let (full, clock, plain) = ("t m u\n", "t u\n", "t\n");
        assert_eq!(asks, [full, plain, plain, plain, clock, plain, plain, plain, full, plain]);
    }

    #[test]
    fn a_clock_asked_for_is_added_to_a_plain_ask() {
        assert_eq!(with_clock("t\n", true), "t u\n");
        assert_eq!(with_clock("t m u\n", true), "t m u\n");
        assert_eq!(with_clock("t\n", false), "t\n");
    }

    #[test]
    fn watch_lines_name_the_processes_or_nothing() {
        assert_eq!(watch_line(&["nginx", "hitch"]), "w nginx hitch\n");
        assert_eq!(watch_line(&[]), "w\n");
    }

    #[test]
    fn one_ask_in_flight_until_answered_or_given_up() {
        let t0 = Instant::now();
        assert!(should_ask(0, None, false, t0), "the first ask");
        assert!(!should_ask(0, None, true, t0), "paused");
        assert!(!should_ask(4, Some((5, t0)), false, t0 + INTERVAL), "sample 5 not in yet");
        assert!(should_ask(5, Some((5, t0)), false, t0 + INTERVAL), "answered");
        assert!(should_ask(4, Some((5, t0)), false, t0 + INTERVAL * GIVE_UP), "given up");
        assert!(!should_ask(5, Some((5, t0)), true, t0 + INTERVAL), "answered, but paused");
    }
}
