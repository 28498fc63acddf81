//! The command lines the lab runs routerlab's own subcommands with (`routerlab load`,
//! `routerlab backend`), as types: the binary parses them with clap, the runner writes them
//! with `to_args()`, and a test holds `parse(x.to_args()) == x` for every variant, so the
//! writer and the parser cannot drift apart.
mod backend;
mod load;
#[cfg(test)]
mod tests;

use std::time::Duration;

use ipnet::IpNet;

pub use backend::BackendArgs;
pub use load::LoadArgs;

/// A phase length or budget: zero is allowed (for a phase, it skips the phase), a negative
/// value is not. The scenario file's fields follow the same rules (`scenario::ctx`).
pub fn duration(s: &str) -> Result<Duration, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!("{s:?} is negative; a duration is 0s or more"));
    }
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 10s or 500ms: {e}"))
}

/// A length that must be more than zero: a steady phase of 0s measures nothing, a 0s timeout
/// fails everything.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match duration(s)? {
        d if d.is_zero() => Err(format!("{s:?} is zero; it must be longer than 0s")),
        d => Ok(d),
    }
}

/// A CIDR, or an address as its own /32 or /128.
pub fn cidr(s: &str) -> Result<IpNet, String> {
    crate::netaddr::CidrList::parse_net(s).map_err(|e| e.to_string())
}

/// An argument vector under construction; each method writes an option the way clap reads
/// it back.
#[derive(Default)]
struct Argv(Vec<String>);

impl Argv {
    fn arg(&mut self, v: impl ToString) {
        self.0.push(v.to_string());
    }
    fn opt(&mut self, name: &str, v: impl ToString) {
        self.0.extend([name.to_string(), v.to_string()]);
    }
    fn opt_some<T: ToString>(&mut self, name: &str, v: Option<T>) {
        if let Some(v) = v {
            self.opt(name, v);
        }
    }
    fn each<T: ToString>(&mut self, name: &str, vs: impl IntoIterator<Item = T>) {
        for v in vs {
            self.opt(name, v);
        }
    }
    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(name.to_string());
        }
    }
    /// A duration exactly as humantime reads it back (`1s 500ms`).
    fn time(&mut self, name: &str, d: Duration) {
        self.opt(name, humantime::format_duration(d));
    }
}
