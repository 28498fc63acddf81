//! A cell's instruction-count readings: the idle window (the metrics agent's cost, asked for
//! one sample at a time, then the quiet rate with the agent stopped), then the counters at
//! each load phase's start and end. The arithmetic is in [`crate::cost`]; this only decides
//! when to read.
use std::time::{Duration, Instant};

use crate::cost::{background, AgentAsk, AgentCost, InsnSection, PhaseCost, Rate};
use crate::load::LoadSummary;
use crate::vm::{ask_line, InsnReading, Vm, CYCLE};

/// Wait this long before an idle window opens: the guest is still finishing what came
/// before (deploy's console commands: about 0.3 s of bursts; a sample in flight).
const SETTLE: Duration = Duration::from_millis(500);
/// Asks of the agent, one at a time, to measure its cost: one of its cycles of plain samples
/// and samples with the guest's clock and memory.
const ASKS: u64 = CYCLE;
/// After an answer arrives, the agent still returns from write(2) and goes back to read(2).
const TAIL: Duration = Duration::from_millis(30);

/// What an idle window found, kept by the session to stand for the later cells of the same
/// build on the same router: the proxy and the guest are the same, and so is their
/// background, so each repetition need not wait out a window of its own.
#[derive(Debug, Clone)]
pub(crate) struct Idle {
    quiet: Rate,
    agent: Option<AgentCost>,
    /// The cell (its directory's name) whose window it was.
    cell: String,
}

/// The readings of one cell. The first failure to read is kept as the reason.
#[derive(Default)]
pub(crate) struct CostProbe {
    why_not: Option<String>,
    quiet: Option<Rate>,
    agent: Option<AgentCost>,
    /// The earlier cell whose idle window stands for this one's.
    idle_from: Option<String>,
    /// Readings at the start and end of warm-up and steady.
    pub warmup: Option<(InsnReading, InsnReading)>,
    pub steady: Option<(InsnReading, InsnReading)>,
}

impl CostProbe {
    /// Measure the background for about `idle` (no load): first the metrics agent's cost,
    /// asked for one sample at a time, then the quiet rate over half of `idle` with the agent
    /// stopped. Skipped when counts are unavailable or `idle` is zero.
    pub async fn idle(vm: &mut Vm, idle: Duration) -> CostProbe {
        let mut p = CostProbe::default();
        if let Err(why) = vm.insns() {
            p.why_not = Some(why);
            return p;
        }
        if idle.is_zero() {
            return p;
        }
        // The host stops asking on its clock: the agent sleeps in read(2) and costs the guest
        // nothing but the asks made here.
        vm.agent_pause(true);
        tokio::time::sleep(SETTLE).await;
        let asks = p.agent_asks(vm).await;
        tokio::time::sleep(SETTLE).await;
        p.quiet = p.window(vm, idle / 2).await;
        vm.agent_pause(false);
        if let (Some(asks), Some(q)) = (asks, &p.quiet) {
            let interval = vm.agent_progress().interval_ms.unwrap_or_default() as f64 / 1000.0;
            let cycle: Vec<&str> = (0..CYCLE).map(ask_line).collect();
            p.agent = AgentCost::from_asks(&asks, q, interval, &cycle);
        }
        p
    }

    /// The background an earlier cell of the same build measured, with no window of its own;
    /// [`CostProbe::idle`]'s reason where counts cannot be read.
    pub fn reuse(vm: &Vm, idle: &Idle) -> CostProbe {
        let mut p = CostProbe::default();
        match vm.insns() {
            Err(why) => p.why_not = Some(why),
            Ok(_) => (p.quiet, p.agent, p.idle_from) = (Some(idle.quiet), idle.agent, Some(idle.cell.clone())),
        }
        p
    }

    /// What this cell's own idle window found, for the session to keep; `cell` names it.
    pub fn idle_found(&self, cell: &str) -> Option<Idle> {
        let quiet = self.quiet.filter(|_| self.idle_from.is_none())?;
        Some(Idle { quiet, agent: self.agent, cell: cell.into() })
    }

    /// [`ASKS`] asks of the agent, each alone: read, ask, wait for the answer and the agent's
    /// return to sleep, read. `None` without an agent or if one goes unanswered.
    async fn agent_asks(&mut self, vm: &Vm) -> Option<Vec<AgentAsk>> {
        let mut asks = Vec::with_capacity(ASKS as usize);
        let mut before = self.read(vm)?;
        for n in 0..ASKS {
            let line = ask_line(n);
            let want = vm.agent_progress().samples + 1;
            if !vm.agent_ask(line) {
                return None;
            }
            wait_samples(vm, want, SETTLE * 4).await?;
            tokio::time::sleep(TAIL).await;
            let after = self.read(vm)?;
            asks.push(AgentAsk { ask: line, before, after });
            before = after;
        }
        Some(asks)
    }

    async fn window(&mut self, vm: &Vm, d: Duration) -> Option<Rate> {
        let a = self.read(vm)?;
        tokio::time::sleep(d).await;
        let b = self.read(vm)?;
        Rate::between(&a, &b)
    }

    /// Whether this cell measured an idle window of its own (for the timeline's idle phase).
    pub fn measured_idle(&self) -> bool {
        self.quiet.is_some() && self.idle_from.is_none()
    }

    /// The counters now; `None` (and the reason kept) if they cannot be read.
    pub fn read(&mut self, vm: &Vm) -> Option<InsnReading> {
        if self.why_not.is_some() {
            return None;
        }
        vm.insns().map_err(|why| self.why_not = Some(why)).ok()
    }

    /// The report section: per phase, with the idle background subtracted.
    pub fn section(&self, warmup: Option<&LoadSummary>, steady: &LoadSummary) -> InsnSection {
        if let Some(why) = &self.why_not {
            return InsnSection::unavailable(why.clone());
        }
        let bg = self.quiet.as_ref().map(|q| background(q, self.agent.as_ref()));
        let cost = |(a, b): &(InsnReading, InsnReading), l: &LoadSummary| {
            PhaseCost::new(a, b, bg.as_ref(), l.ok, l.handshakes.full)
        };
        let steady_cost = self.steady.as_ref().map(|w| cost(w, steady));
        let agent = self.agent.map(|mut a| {
            a.share_of_steady_pct = steady_cost.as_ref().filter(|s| s.per_s > 0.0).map(|s| 100.0 * a.per_s / s.per_s);
            a
        });
        InsnSection {
            unavailable: None,
            background: bg,
            quiet: self.quiet,
            idle_from: self.idle_from.clone(),
            agent,
            warmup: self.warmup.as_ref().zip(warmup).map(|(w, l)| cost(w, l)),
            steady: steady_cost,
        }
    }
}

/// Wait until the agent has sent `count` samples; the count reached, or `None` on timeout.
async fn wait_samples(vm: &Vm, count: usize, timeout: Duration) -> Option<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = vm.agent_progress().samples;
        if n >= count {
            return Some(n);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_window_of_its_own_is_kept_for_the_next_cells() {
        let quiet = Rate { seconds: 1.5, user_per_s: 1.0e6, kernel_per_s: 2.0e6, tlb_refills_per_s: None };
        let measured = CostProbe { quiet: Some(quiet), ..Default::default() };
        let kept = measured.idle_found("cell-1").unwrap();
        assert_eq!((kept.quiet, kept.cell.as_str()), (quiet, "cell-1"));
        assert!(measured.measured_idle());
        // A cell that took another's window passes it on from there, not as its own.
        let taken = CostProbe { quiet: Some(quiet), idle_from: Some("cell-1".into()), ..Default::default() };
        assert!(taken.idle_found("cell-3").is_none() && !taken.measured_idle());
        // No window (idle 0 s, or counts unavailable): nothing to keep.
        assert!(CostProbe::default().idle_found("cell-1").is_none());
        let steady: LoadSummary =
            serde_json::from_str(include_str!("../../../tests/fixtures/steady.load.json")).unwrap();
        let s = taken.section(None, &steady);
        assert_eq!((s.idle_from.as_deref(), s.quiet), (Some("cell-1"), Some(quiet)));
    }
}
