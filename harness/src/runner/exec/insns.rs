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

/// The readings of one cell. The first failure to read is kept as the reason.
#[derive(Default)]
pub(crate) struct CostProbe {
    why_not: Option<String>,
    quiet: Option<Rate>,
    agent: Option<AgentCost>,
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

    /// Whether the idle window was measured (for the timeline's idle phase).
    pub fn measured_idle(&self) -> bool {
        self.quiet.is_some()
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
