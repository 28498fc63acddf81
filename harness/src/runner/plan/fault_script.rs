//! The `[[fault]]` steps of a cell script, decided before anything runs: what the router
//! runs (rendered from `scenarios/templates/router/faults.toml`), and what the host does
//! (freeze the VM, restart the backend). `faults.rs` executes them during the steady phase.
use std::collections::BTreeMap;

use crate::netlab::{Tunnel, ADDR};
use crate::runner::plan::ProxyScript;
use crate::scenario::{FaultAction, FaultPlan, Plan};
use crate::template::{render, TemplateError, Vars};

const FAULTS: &str = include_str!("../../../../scenarios/templates/router/faults.toml");

/// One thing a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultOp {
    /// A command on the router's console; it must exit 0.
    Guest(String),
    /// QMP `stop`: the router freezes.
    PauseRouter,
    /// QMP `cont`.
    ResumeRouter,
    /// Stop the backend (SIGTERM) and start it again with the same arguments.
    RestartBackend,
    /// Tell the metrics agent to sample the processes of this name.
    Watch(String),
}

/// A fault with what it does when it begins and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultScript {
    pub plan: FaultPlan,
    pub start: Vec<FaultOp>,
    pub end: Vec<FaultOp>,
}

#[derive(serde::Deserialize)]
struct Commands {
    start: String,
    #[serde(default)]
    end: Option<String>,
}

/// The fault steps of `plan`, given the proxy's script (its stop and start commands).
pub fn fault_scripts(plan: &Plan, proxy: &ProxyScript) -> Result<Vec<FaultScript>, TemplateError> {
    let table: BTreeMap<String, Commands> = toml::from_str(FAULTS).expect("faults.toml is valid (unit-tested)");
    let vars = fault_vars(plan, proxy);
    let guest = |action: &str, which: fn(&Commands) -> Option<&String>| -> Result<Vec<FaultOp>, TemplateError> {
        let Some(text) = table.get(action).and_then(which) else { return Ok(Vec::new()) };
        Ok(vec![FaultOp::Guest(render(&format!("router/faults.toml [{action}]"), text, &vars)?)])
    };
    plan.faults
        .iter()
        .map(|f| {
            let name = crate::scenario::kebab(&f.action);
            let (start, end) = match f.action {
                FaultAction::RestartProxy => (restart_proxy(proxy), Vec::new()),
                FaultAction::RestartBackend => (vec![FaultOp::RestartBackend], Vec::new()),
                FaultAction::PauseRouter => (vec![FaultOp::PauseRouter], vec![FaultOp::ResumeRouter]),
                _ => (guest(&name, |c| Some(&c.start))?, guest(&name, |c| c.end.as_ref())?),
            };
            Ok(FaultScript { plan: *f, start, end })
        })
        .collect()
}

/// The proxy script's own stop, then its start, then the metrics agent told again.
fn restart_proxy(proxy: &ProxyScript) -> Vec<FaultOp> {
    let start = proxy.start().map(|(cmd, _)| cmd.to_string());
    let guest = proxy.stop.iter().cloned().chain(start).map(FaultOp::Guest);
    guest.chain(proxy.process.clone().map(FaultOp::Watch)).collect()
}

fn fault_vars(plan: &Plan, proxy: &ProxyScript) -> Vars {
    let mut vars = ADDR::template_vars();
    let (tunnel_if, route4, route6) = match plan.lab.tunnel {
        Tunnel::WireGuard => ("wg0", "dev wg0".to_string(), "dev wg0".to_string()),
        Tunnel::None => ("tun0", format!("via {}", ADDR::HUB_TUN4), format!("via {}", ADDR::HUB_TUN6)),
    };
    let wan = &plan.lab.impair_wan;
    let wan_restore = if wan.is_empty() {
        "tc qdisc del dev wan0 root".to_string()
    } else {
        format!("tc qdisc replace dev wan0 root netem {}", wan.netem_args().join(" "))
    };
    vars.extend([
        ("process", proxy.process.clone().unwrap_or_default()),
        ("tunnel_if", tunnel_if.to_string()),
        ("tunnel_route4", route4),
        ("tunnel_route6", route6),
        ("wan_restore", wan_restore),
    ]);
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_commands_parse_and_name_only_real_actions() {
        let table: BTreeMap<String, Commands> = toml::from_str(FAULTS).unwrap();
        let actions: Vec<String> = FaultAction::ALL.iter().map(|(n, _)| n.to_string()).collect();
        for (name, c) in &table {
            assert!(actions.contains(name), "{name} is no fault action");
            let lasts = FaultAction::ALL.iter().find(|(n, _)| n == name).unwrap().1.lasts();
            assert_eq!(c.end.is_some(), lasts, "{name}: an end exactly when the fault lasts");
        }
    }
}
