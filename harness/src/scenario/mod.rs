//! Scenario files (`scenarios/*.toml`): strict raw TOML turned into a validated plan that
//! drives `routerlab run`. Errors name the file, line, column and field, and what is allowed.
mod build_file;
mod capabilities;
mod ctx;
mod error;
mod faults;
pub mod kinds;
mod plan;
mod ramp;
mod raw;
mod schema;
mod validate;

pub use build_file::{load_build, BuildPlan, BuildSource};
pub use error::ScenarioError;
pub use plan::{
    kebab, BackendKind, Budgets, ClientIpHeaderMode, ConnPolicyPlan, FaultAction, FaultExpect, FaultPlan, LabPlan,
    LoadPlan, Plan, ProxyKind, ProxyMode, ProxyPlan, RampPlan,
};
pub use schema::{build_schema, scenario_schema};
pub use validate::load_plan;
