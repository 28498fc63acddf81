//! An error and its causes as one line of text, each cause once: `a: b: c`.
//!
//! Every error in this library keeps what caused it as its `source()` and leaves it out of
//! its own message, as the Rust API guidelines ask, so a printer that walks the chain (this
//! one, or anyhow's `{:#}`) never says a cause twice. `tests/error_chains.rs` checks both
//! halves of that rule for every error type.
use std::error::Error;
use std::fmt;

/// `Display` for an error followed by each of its causes, joined by `": "`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// The error and its causes as one `String`, for a report field or a log line.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    Chain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once_in_order() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = crate::scenario::ScenarioError::Read { path: "x.toml".into(), source: io };
        assert_eq!(chain(&e), "cannot read scenario x.toml: gone");
        let outer = crate::runner::RunError::caused("aarch64-virt", "load", e);
        assert_eq!(chain(&outer), "aarch64-virt: load: cannot read scenario x.toml: gone");
    }
}
