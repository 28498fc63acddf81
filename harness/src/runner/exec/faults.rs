//! Executes a cell script's `[[fault]]` steps during the steady phase, on the clock of the
//! steady phase's start, and records when each fault began and when it was over. Every
//! step has a bound: guest commands time out, QMP answers in 5 s, a backend restart waits
//! at most 10 s for its listeners.
use std::path::Path;
use std::time::{Duration, Instant};

use super::deploy::must;
use super::setup::BackendSpec;
use crate::model::FaultRecord;
use crate::netlab::Lab;
use crate::runner::plan::fault_script::{FaultOp, FaultScript};
use crate::runner::RunContext;
use crate::runner::RunError;
use crate::scenario::kebab;
use crate::vm::{Target, Vm};

/// What a fault acts on.
pub(crate) struct FaultHost<'a> {
    pub target: Target,
    pub vm: &'a mut Vm,
    pub lab: &'a mut Lab,
    pub backend: &'a BackendSpec,
    /// Where the backend writes (the session's log directory).
    pub log_dir: &'a Path,
    pub ctx: &'a RunContext,
}

/// The faults of one steady phase, fired in order.
pub(crate) struct Injector<'a> {
    faults: &'a [FaultScript],
    next: usize,
    /// A lasting fault that has begun and waits for its end.
    open: Option<usize>,
    t0: Option<Instant>,
    pub records: Vec<FaultRecord>,
}

impl<'a> Injector<'a> {
    pub fn new(faults: &'a [FaultScript]) -> Injector<'a> {
        Injector { faults, next: 0, open: None, t0: None, records: Vec::new() }
    }

    /// The steady phase starts now: fault times count from here.
    pub fn begin(&mut self) {
        self.t0 = Some(Instant::now());
    }

    /// When the next start or end is due, if any.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        let t0 = self.t0?;
        let due = match self.open {
            Some(i) => self.faults[i].plan.end(),
            None => self.faults.get(self.next)?.plan.at,
        };
        Some((t0 + due).into())
    }

    /// Fire what is due: the open fault's end, else the next fault's start.
    pub async fn fire(&mut self, host: &mut FaultHost<'_>) -> Result<(), RunError> {
        let t0 = self.t0.expect("the steady phase has begun");
        let since = |t: Instant| (t - t0).as_secs_f64();
        if let Some(i) = self.open.take() {
            let result = run_ops(&self.faults[i].end, host).await;
            let r = self.records.last_mut().expect("the open fault was recorded");
            r.end_s = since(Instant::now());
            return result.inspect_err(|e| r.error = Some(crate::errtext::chain(e)));
        }
        let Some(f) = self.faults.get(self.next) else { return Ok(()) };
        self.next += 1;
        let start_s = since(Instant::now());
        let result = run_ops(&f.start, host).await;
        let end_s = since(Instant::now());
        let error = result.as_ref().err().map(|e| crate::errtext::chain(e));
        self.records.push(FaultRecord { action: kebab(&f.plan.action), start_s, end_s, error });
        if f.plan.action.lasts() && result.is_ok() {
            self.open = Some(self.next - 1);
        }
        result
    }

    /// At the steady phase's end: end a fault still open; faults never reached are
    /// recorded as such, not dropped.
    pub async fn finish(&mut self, host: &mut FaultHost<'_>) -> Result<(), RunError> {
        let result = if self.open.is_some() { self.fire(host).await } else { Ok(()) };
        let end = self.t0.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        for f in &self.faults[self.next..] {
            let error = Some(format!("not run: the steady phase ended at {end:.1} s, before {:?}", f.plan.at));
            self.records.push(FaultRecord { action: kebab(&f.plan.action), start_s: end, end_s: end, error });
        }
        self.next = self.faults.len();
        result
    }
}

async fn run_ops(ops: &[FaultOp], h: &mut FaultHost<'_>) -> Result<(), RunError> {
    let t = h.target.to_string();
    let vm_err = |source| RunError::Vm { target: t.clone(), phase: "fault", source: Box::new(source) };
    for op in ops {
        match op {
            FaultOp::Guest(cmd) => drop(must(h.vm, &t, "fault", cmd).await?),
            FaultOp::Watch(name) => h.vm.agent_watch(&[name]),
            FaultOp::PauseRouter => h.vm.pause().await.map_err(vm_err)?,
            FaultOp::ResumeRouter => h.vm.resume().await.map_err(vm_err)?,
            FaultOp::RestartBackend => {
                h.lab.stop(h.backend.label(), Duration::from_secs(2)).await;
                super::setup::start(h.lab, h.backend, h.log_dir, h.ctx).await.map_err(|source| RunError::Lab {
                    target: t.clone(),
                    phase: "fault",
                    source: Box::new(source),
                })?;
            }
        }
    }
    Ok(())
}
