//! The report model: what `report.json` and `timeline.json` hold (docs/report.schema.json) and the one
//! [`CellSummary`] per cell that every renderer reads: the terminal table, report.html,
//! summary.md and junit.xml. Renderers depend on this module, not on the runner.
mod capture;
mod cell_dir;
mod evidence;
mod growth;
mod ramp;
mod ramp_cause;
mod report;
mod summary;
pub(crate) mod timeline;

pub use capture::{CaptureFile, CaptureSection, HopView, RequestTrace};
pub use cell_dir::{CellDir, LoadPhase};
pub use evidence::{Assertion, KernelEvent, LegReuse};
pub use growth::{Growth, HelperMemory};
pub use ramp::{RampOf, RampSection, RampStep, StepResult};
pub use report::{
    mib, BuildInfo, CellReport, ClientIpSection, ConnectionReuse, FaultRecord, Footprint, ProxyMetrics, RejectSummary,
    Report, Timings, SCHEMA_VERSION,
};
pub use summary::{fixed, CellSummary};
pub use timeline::{latency_curves, GuestSample, InsnRatePoint, LatencyCurve, Phase, PhaseClock, ProcSample, Timeline};

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Outcome {
    /// Every assertion held.
    Pass,
    /// The cell ran and an assertion failed.
    Fail,
    /// The cell could not run (lab, boot, deploy, load or reconcile broke).
    #[default]
    Error,
    /// A signal stopped the run during this cell.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The cell has no result to judge: CI shows it as an error, not a failed assertion.
    pub fn is_error(self) -> bool {
        matches!(self, Outcome::Error | Outcome::Interrupted)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What the backend's access log says about client IPs, or what a scenario expects it to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Verdict {
    /// Every logged request names the address that sent it (the scenario default).
    #[default]
    Preserved,
    /// Some logged request names another address.
    Lost,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_verdicts_are_the_schema_words() {
        for (o, w) in [
            (Outcome::Pass, "pass"),
            (Outcome::Fail, "fail"),
            (Outcome::Error, "error"),
            (Outcome::Interrupted, "interrupted"),
        ] {
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{w}\""));
            assert_eq!(serde_json::from_str::<Outcome>(&format!("\"{w}\"")).unwrap(), o);
            assert_eq!(o.to_string(), w);
        }
        for (v, w) in [(Verdict::Preserved, "preserved"), (Verdict::Lost, "lost")] {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{w}\""));
            assert_eq!(v.to_string(), w);
        }
        assert!(serde_json::from_str::<Outcome>("\"passed\"").is_err());
        assert!(Outcome::Interrupted.is_error() && !Outcome::Fail.is_error());
    }
}
