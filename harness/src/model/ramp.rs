//! A rate ramp's findings: each step's cell says which step it was, and the ramp's last cell
//! carries every step and the knee, the highest rate held within the error limit before
//! the first one that was not. The knee is judged as the `knee` assertion.
use super::{Assertion, CellReport, Outcome};

/// A step holds only if the router kept up: this share of the offered rate was served.
/// Queued handshakes that finish late are not errors (aarch64 at 40/s: none failed, the
/// run took 11.7 s for 5 s of sending, p99 7.7 s).
pub const HOLD_SHARE: f64 = 0.9;

/// What a ramp raises from step to step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RampOf {
    /// The open-loop rate, requests per second (`[load] ramp`).
    #[default]
    Rate,
    /// The closed-loop connections, each busy (`[load] ramp-connections`).
    Connections,
}

/// Which step of a ramp a cell ran.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RampStep {
    pub of: RampOf,
    /// The offered rate (requests/s) or the connections.
    pub value: f64,
    /// 1-based.
    pub step: u32,
    pub steps: u32,
}

impl RampStep {
    /// `10/s` or `400 conns`.
    pub fn label(&self) -> String {
        label(self.of, self.value)
    }

    /// What a cell directory's name ends with: `10rps` or `400conns`.
    pub fn dir_suffix(&self) -> String {
        match self.of {
            RampOf::Rate => format!("{}rps", self.value),
            RampOf::Connections => format!("{}conns", self.value),
        }
    }
}

fn label(of: RampOf, value: f64) -> String {
    match of {
        RampOf::Rate => format!("{}/s", num(value)),
        RampOf::Connections => format!("{} conns", num(value)),
    }
}

/// What one step measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepResult {
    pub of: RampOf,
    /// The step's rate or connections.
    pub value: f64,
    pub sent: u64,
    pub failed: u64,
    pub error_rate: f64,
    /// Successful requests per second, over the load run less its median latency: a run
    /// lasts its duration plus the last requests' time in flight, which is not slowness.
    pub served_per_s: f64,
    pub full_handshakes_per_s: f64,
    /// Guest instructions per full TLS handshake (background subtracted where measured).
    pub insns_per_handshake: Option<f64>,
    /// Corrected p99 latency of the successful requests, milliseconds.
    pub p99_ms: Option<f64>,
    /// The proxy's peak RSS, KiB.
    pub rss_peak_kb: Option<u64>,
    /// The guest's memory in use at its fullest (its RAM less the least MemAvailable), KiB.
    pub guest_used_kb: Option<u64>,
    /// `timeout 40, connect 3`: the failures by class.
    pub failures: String,
    /// What the guest kernel said in the step: `conntrack-full x50`.
    #[serde(default)]
    pub kernel: String,
    /// What failed first, in words with its evidence (`the handshake rate: ...`), where
    /// anything failed or the kernel spoke.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cause: String,
    /// Within the error limit, and the cell ran.
    pub held: bool,
    /// Why the step's cell could not run, if it could not.
    pub error: Option<String>,
}

/// The ramp as a whole, on its last cell.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RampSection {
    pub error_limit: f64,
    pub min_knee: Option<f64>,
    pub steps: Vec<StepResult>,
    /// The highest step held before the first that was not; none if the first failed.
    pub knee: Option<StepResult>,
    /// The first step over the limit, and what failed in it; none if every step held.
    pub first_over: Option<StepResult>,
    /// A connections ramp: the least-squares slope of the proxy's peak RSS, and of the
    /// guest's memory in use, over the steps held, KiB per connection.
    pub rss_kib_per_connection: Option<f64>,
    pub guest_kib_per_connection: Option<f64>,
}

impl StepResult {
    /// A finished step cell's figures, held or not against `error_limit`.
    pub fn of(r: &CellReport, step: &RampStep, error_limit: f64) -> StepResult {
        let mut s = StepResult { of: step.of, value: step.value, error: r.error.clone(), ..Default::default() };
        if let Some(l) = &r.load {
            s.sent = l.sent;
            s.failed = l.sent.saturating_sub(l.ok);
            s.error_rate = if l.sent > 0 { s.failed as f64 / l.sent as f64 } else { 1.0 };
            let p50_s = l.latency_us.total.p50 as f64 / 1e6;
            s.served_per_s = l.ok as f64 / (l.duration_s - p50_s).max(1e-3);
            s.full_handshakes_per_s = l.full_handshakes_per_s;
            s.p99_ms =
                (l.latency_us.effective_total().count > 0).then(|| l.latency_us.effective_total().p99 as f64 / 1e3);
            let e = &l.errors;
            let classes = [("connect", e.connect), ("tls", e.tls), ("timeout", e.timeout)];
            let more = [("http-status", e.http_status), ("protocol", e.protocol)];
            let named: Vec<String> =
                classes.iter().chain(&more).filter(|(_, n)| *n > 0).map(|(c, n)| format!("{c} {n}")).collect();
            s.failures = named.join(", ");
            let seen = super::ramp_cause::Seen {
                of: step.of,
                value: step.value,
                errors: e,
                kernel: &r.kernel_events,
                full_handshakes_per_s: l.full_handshakes_per_s,
                backend: r
                    .connections
                    .as_ref()
                    .and_then(|c| c.backend)
                    .map(|b| (b.requests, b.tls_full + b.tls_resumed)),
            };
            s.cause = super::ramp_cause::cause(&seen).unwrap_or_default();
        }
        let steady = r.insns.as_ref().and_then(|i| i.steady.as_ref());
        s.insns_per_handshake = steady.and_then(|p| p.per_handshake.or(p.per_handshake_raw));
        s.rss_peak_kb = r.metrics.as_ref().and_then(|m| m.rss_peak_kb);
        s.kernel = r.kernel_events.iter().map(|e| format!("{} x{}", e.kind, e.count)).collect::<Vec<_>>().join(", ");
        let ram_kb = r.router.map(|x| u64::from(x.memory_mib) * 1024);
        let avail = r.metrics.as_ref().and_then(|m| m.guest_mem_available_min_kb);
        s.guest_used_kb = ram_kb.zip(avail).map(|(t, a)| t.saturating_sub(a));
        let ran = r.outcome != Outcome::Error && r.outcome != Outcome::Interrupted && r.load.is_some();
        // An open-loop step must also have kept up; a closed loop waits for each answer.
        let kept_up = step.of == RampOf::Connections || s.served_per_s >= HOLD_SHARE * step.value;
        s.held = ran && s.sent > 0 && s.error_rate <= error_limit && kept_up;
        s
    }

    /// A step the ramp did not run, because an earlier one did not hold: `why` says which.
    pub fn not_run(of: RampOf, value: f64, why: String) -> StepResult {
        StepResult { of, value, error: Some(why), ..Default::default() }
    }

    /// `10/s: 9.9/s served, 9.9 full handshakes/s, 0.00% failed, 1.63 M insns/handshake`;
    /// a connections step also gives the proxy's and the guest's memory.
    pub fn line(&self) -> String {
        let at = label(self.of, self.value);
        if let Some(e) = &self.error {
            return format!("{at}: did not run ({e})");
        }
        let mut s = format!(
            "{at}: {}/s served, {} full handshakes/s, {:.2}% failed",
            num(self.served_per_s),
            num(self.full_handshakes_per_s),
            self.error_rate * 100.0
        );
        if !self.failures.is_empty() {
            s.push_str(&format!(" ({})", self.failures));
        }
        // On kept connections the few handshakes are not what the instructions paid for.
        if let Some(i) = self.insns_per_handshake.filter(|_| self.of == RampOf::Rate) {
            s.push_str(&format!(", {:.2} M insns/handshake", i / 1e6));
        }
        if self.of == RampOf::Connections {
            let mib = |kb: Option<u64>| kb.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
            s.push_str(&format!(", proxy RSS {}, guest in use {}", mib(self.rss_peak_kb), mib(self.guest_used_kb)));
        }
        s
    }
}

impl StepResult {
    /// Why a step did not hold, in words.
    fn why_over(&self, error_limit: f64) -> String {
        let share = if self.value > 0.0 { self.served_per_s / self.value } else { 0.0 };
        let why = match (&self.error, self.error_rate > error_limit) {
            (Some(_), _) => "its cell did not run".into(),
            (None, true) => format!("more than {:.2}% failed", error_limit * 100.0),
            (None, false) => format!("served {:.0}% of the rate, under {:.0}%", share * 100.0, HOLD_SHARE * 100.0),
        };
        let why = match self.kernel.as_str() {
            "" => why,
            k => format!("{why}; the guest kernel: {k}"),
        };
        match self.cause.as_str() {
            "" => why,
            c => format!("{why}; what failed first: {c}"),
        }
    }
}

impl RampSection {
    /// The ramp of `steps` (in rising order), its knee, and the `knee` assertion: a knee
    /// exists, and reaches `min_knee` if given (requests per second served, or connections).
    pub fn judge(steps: Vec<StepResult>, error_limit: f64, min_knee: Option<f64>) -> (RampSection, Assertion) {
        let over = steps.iter().position(|s| !s.held);
        let knee = match over {
            Some(0) => None,
            Some(i) => Some(steps[i - 1].clone()),
            None => steps.last().cloned(),
        };
        let first_over = over.map(|i| steps[i].clone());
        let of = steps.first().map(|s| s.of).unwrap_or_default();
        let budget = match (min_knee, of) {
            (Some(m), RampOf::Rate) => format!("; min-knee {}/s served", num(m)),
            (Some(m), RampOf::Connections) => format!("; min-knee {}", label(of, m)),
            (None, _) => String::new(),
        };
        let limit = match of {
            RampOf::Rate => {
                format!("{:.2}% failed and {:.0}% of the rate served", error_limit * 100.0, HOLD_SHARE * 100.0)
            }
            RampOf::Connections => format!("{:.2}% failed", error_limit * 100.0),
        };
        // A rate ramp's knee is what it served; a connections ramp's, its connections.
        let reached = |k: &StepResult| if k.of == RampOf::Rate { k.served_per_s } else { k.value };
        let passed = knee.as_ref().is_some_and(|k| min_knee.is_none_or(|m| reached(k) >= m));
        let mut evidence = match &knee {
            Some(k) => format!("knee at {} (held: at most {limit}{budget})", k.line()),
            None => format!("no step held (at most {limit}){budget}"),
        };
        match &first_over {
            Some(o) => evidence.push_str(&format!("; first over: {} ({})", o.line(), o.why_over(error_limit))),
            None => evidence.push_str("; every step held: the knee is above the ramp's last rate"),
        }
        let held: Vec<&StepResult> = steps.iter().filter(|s| s.held && s.of == RampOf::Connections).collect();
        let slope = |f: fn(&StepResult) -> Option<u64>| {
            let pts: Vec<(f64, f64)> = held.iter().filter_map(|s| f(s).map(|kb| (s.value, kb as f64))).collect();
            super::growth::slope(&pts)
        };
        let (rss, guest) = (slope(|s| s.rss_peak_kb), slope(|s| s.guest_used_kb));
        if let Some(r) = rss {
            let g = guest.map(|g| format!(", guest {g:.1}")).unwrap_or_default();
            evidence.push_str(&format!("; memory per connection: proxy {r:.1}{g} KiB"));
        }
        let a = Assertion { name: "knee".into(), passed, evidence };
        let r = RampSection {
            error_limit,
            min_knee,
            steps,
            knee,
            first_over,
            rss_kib_per_connection: rss,
            guest_kib_per_connection: guest,
        };
        (r, a)
    }
}

/// A rate as people write it: `10`, `17.1`, `2.5`, `0.33`.
fn num(x: f64) -> String {
    let s = match x {
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x => format!("{x:.2}"),
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
#[path = "ramp_tests.rs"]
mod tests;
