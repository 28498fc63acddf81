//! `[[fault]]` tables and the fault budgets of `[expect]`, validated against the steady
//! phase and the proxy kind.
use std::time::Duration;

use super::ctx::Ctx;
use super::plan::{FaultAction, FaultExpect, FaultPlan, ProxyKind};
use super::raw::{RawExpect, RawFault};
use super::ScenarioError;

/// The faults in order of `at`; each must end inside the steady phase.
pub(crate) fn faults(
    c: &Ctx<'_>,
    raw: &[RawFault],
    kind: ProxyKind,
    steady: Duration,
) -> Result<Vec<FaultPlan>, ScenarioError> {
    let mut out = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let field = |name: &str| format!("fault[{}].{name}", i + 1);
        let action = c.choose(&f.action, &field("action"), &FaultAction::ALL)?;
        let at = c.duration(&Some(f.at.clone()), &field("at"), Duration::ZERO)?;
        let duration = match (&f.duration, action.lasts()) {
            (Some(d), true) => Some(c.duration(&Some(d.clone()), &field("duration"), Duration::ZERO)?),
            (None, true) => return c.err(f.action.span(), &field("duration"), "this fault lasts: give its duration"),
            (Some(d), false) => {
                return c.err(d.span(), &field("duration"), "this fault is an instant event: it takes no duration")
            }
            (None, false) => None,
        };
        if duration.is_some_and(|d| d.is_zero()) {
            return c.err(f.duration.as_ref().expect("set").span(), &field("duration"), "must be more than 0");
        }
        let proxy_fault = matches!(action, FaultAction::KillProxy | FaultAction::RestartProxy);
        if proxy_fault && kind == ProxyKind::L4Forward {
            return c.err(f.action.span(), &field("action"), "l4-forward has no proxy process to kill or restart");
        }
        let plan = FaultPlan { at, action, duration };
        if plan.end() >= steady {
            let msg = format!("ends at {:?}, not inside the {steady:?} steady phase (load.duration)", plan.end());
            return c.err(f.at.span(), &field("at"), msg);
        }
        if let Some(prev) = out.last().filter(|p: &&FaultPlan| p.end() > at) {
            let msg = format!("starts before the fault before it ends ({:?}); faults do not overlap", prev.end());
            return c.err(f.at.span(), &field("at"), msg);
        }
        out.push(plan);
    }
    Ok(out)
}

/// `max-failed` and `max-recovery`, which only make sense with faults.
pub(crate) fn fault_expect(c: &Ctx<'_>, e: &RawExpect, faults: &[FaultPlan]) -> Result<FaultExpect, ScenarioError> {
    let max_recovery = e
        .max_recovery
        .as_ref()
        .map(|s| c.duration(&Some(s.clone()), "expect.max-recovery", Duration::ZERO))
        .transpose()?;
    if faults.is_empty() {
        if let Some(f) = &e.max_failed {
            return c.err(f.span(), "expect.max-failed", "needs a [[fault]]");
        }
        if let Some(r) = &e.max_recovery {
            return c.err(r.span(), "expect.max-recovery", "needs a [[fault]]");
        }
    }
    Ok(FaultExpect { max_failed: e.max_failed.as_ref().map(|f| *f.get_ref()), max_recovery })
}

#[cfg(test)]
mod tests {
    use crate::scenario::{load_plan, FaultAction, ScenarioError};
    use std::time::Duration;

    fn plan(extra: &str) -> Result<crate::scenario::Plan, ScenarioError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.toml");
        let head = "name = \"x\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"\n[load]\nduration = \"10s\"\n";
        std::fs::write(&p, format!("{head}{extra}")).unwrap();
        load_plan(&p)
    }

    #[test]
    fn faults_parse_in_order_with_their_budgets() {
        let p = plan("[expect]\nclient-ip = \"preserved\"\nmax-failed = 40\nmax-recovery = \"3s\"\n[[fault]]\nat = \"2s\"\naction = \"flap-tunnel\"\nduration = \"1s\"\n[[fault]]\nat = \"5s\"\naction = \"restart-proxy\"\n").unwrap();
        assert_eq!(p.faults.len(), 2);
        assert_eq!((p.faults[0].action, p.faults[0].end()), (FaultAction::FlapTunnel, Duration::from_secs(3)));
        assert_eq!((p.faults[1].action, p.faults[1].duration), (FaultAction::RestartProxy, None));
        assert_eq!((p.fault_expect.max_failed, p.fault_expect.max_recovery), (Some(40), Some(Duration::from_secs(3))));
    }

    #[test]
    fn bad_faults_name_their_field() {
        let e = |extra: &str| plan(&format!("[expect]\nclient-ip = \"preserved\"\n{extra}")).unwrap_err().to_string();
        assert!(e("[[fault]]\nat = \"2s\"\naction = \"reboot\"\n")
            .contains("fault[1].action: \"reboot\" is not one of kill-proxy"));
        assert!(e("[[fault]]\nat = \"2s\"\naction = \"drop-wan\"\n").contains("fault[1].duration: this fault lasts"));
        assert!(e("[[fault]]\nat = \"2s\"\naction = \"kill-proxy\"\nduration = \"1s\"\n").contains("instant event"));
        assert!(e("[[fault]]\nat = \"9s\"\naction = \"drop-wan\"\nduration = \"2s\"\n")
            .contains("not inside the 10s steady phase"));
        let overlap = "[[fault]]\nat = \"2s\"\naction = \"drop-wan\"\nduration = \"3s\"\n[[fault]]\nat = \"4s\"\naction = \"restart-backend\"\n";
        assert!(e(overlap).contains("fault[2].at: starts before the fault before it ends"));
        assert!(plan("[expect]\nclient-ip = \"preserved\"\nmax-failed = 3\n")
            .unwrap_err()
            .to_string()
            .contains("expect.max-failed: needs a [[fault]]"));
    }
}
