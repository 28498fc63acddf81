//! Exit codes, as documented in docs/exit-codes.md. Scripts depend on these numbers.

/// A process exit code with a meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok,
    /// Bad flags, values or input files (clap also exits 2 for usage errors).
    BadInput,
    /// The run completed and an assertion about it failed.
    AssertionFailed,
    /// Something around the test failed: bind, I/O, a helper process, QEMU.
    Infrastructure,
    /// `compare --fail-if`: a regression gate tripped.
    Regression,
    /// Interrupted by Ctrl-C or SIGTERM; partial results were written.
    Interrupted,
    /// `vm run`: the guest command's own exit status.
    Guest(i32),
}

impl From<Code> for i32 {
    fn from(c: Code) -> i32 {
        match c {
            Code::Ok => 0,
            Code::BadInput => 2,
            Code::AssertionFailed => 100,
            Code::Infrastructure => 101,
            Code::Regression => 102,
            Code::Interrupted => 130,
            Code::Guest(s) => s,
        }
    }
}

/// Why a command failed, carrying the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    BadInput(anyhow::Error),
    Infrastructure(anyhow::Error),
    /// A library error, classified by [`code_of`].
    Lib(anyhow::Error),
}

impl Failure {
    /// A library error; its exit code is decided in one place, [`code_of`].
    pub fn lib(e: impl Into<anyhow::Error>) -> Failure {
        Failure::Lib(e.into())
    }

    /// Print the one-line error and return its exit code.
    pub fn report(self) -> Code {
        let (code, err) = match self {
            Failure::BadInput(e) => (Code::BadInput, e),
            Failure::Infrastructure(e) => (Code::Infrastructure, e),
            Failure::Lib(e) => (code_of(&e), e),
        };
        eprintln!("routerlab: error: {err:#}");
        code
    }
}

/// The one place where library errors become exit codes, as nextest's `ExpectedError`
/// does: what the user can fix in their input (a target name, a recipe, a host or link
/// name, lab options, an over-long guest command) is 2; everything else is 101. The first
/// error in the chain that says decides.
pub fn code_of(e: &anyhow::Error) -> Code {
    use harness::image::ImageError as I;
    use harness::netlab::LabError as L;
    use harness::vm::VmError as V;
    for cause in e.chain() {
        let bad_input = if let Some(v) = cause.downcast_ref::<V>() {
            matches!(v, V::UnknownTarget(_) | V::CommandTooLong { .. } | V::CpuLacks { .. } | V::Resources { .. })
        } else if let Some(i) = cause.downcast_ref::<I>() {
            matches!(
                i,
                I::RecipeRead { .. }
                    | I::RecipeParse { .. }
                    | I::RecipeInvalid { .. }
                    | I::UnknownImage { .. }
                    | I::MissingModule { .. }
                    | I::Missing { .. }
                    | I::MirrorMissing { .. }
                    | I::PinMismatch { .. }
                    | I::Feed { .. }
            )
        } else if let Some(l) = cause.downcast_ref::<L>() {
            matches!(l, L::BadHost { .. } | L::BadLink { .. } | L::Options { .. })
        } else if let Some(h) = cause.downcast_ref::<harness::compare::HistoryError>() {
            !matches!(h, harness::compare::HistoryError::Write { .. })
        } else if cause.downcast_ref::<harness::scenario::ScenarioError>().is_some() {
            true
        } else if let Some(p) = cause.downcast_ref::<harness::preflight::PreflightError>() {
            // A build that cannot run is the user's to fix; an image or a staging that
            // failed is decided by its cause.
            use harness::preflight::PreflightError as P;
            if matches!(p, P::Image { .. } | P::Stage { .. }) {
                continue;
            }
            true
        } else {
            continue;
        };
        return if bad_input { Code::BadInput } else { Code::Infrastructure };
    }
    Code::Infrastructure
}

pub type CmdResult = Result<Code, Failure>;

/// Shorthands for mapping library errors.
pub trait Classify<T> {
    fn bad_input(self) -> Result<T, Failure>;
    fn infra(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> Classify<T> for Result<T, E> {
    fn bad_input(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::BadInput(e.into()))
    }
    fn infra(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Infrastructure(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_their_codes_in_one_place() {
        let bad = anyhow::Error::new(harness::vm::VmError::UnknownTarget("sparc".into()));
        assert_eq!(code_of(&bad), Code::BadInput);
        let lab = harness::netlab::LabError::Options { detail: "clients: 0".into() };
        assert_eq!(code_of(&anyhow::Error::new(lab).context("lab up")), Code::BadInput, "found down the chain");
        let io = std::io::Error::other("disk full");
        assert_eq!(code_of(&anyhow::Error::new(io)), Code::Infrastructure);
        let late = harness::vm::VmError::NotReady { vm: "r".into(), detail: "no sockets".into() };
        assert_eq!(code_of(&anyhow::Error::new(late)), Code::Infrastructure);
        use harness::compare::HistoryError as H;
        let parse = H::Parse { path: "h.json".into(), source: serde_json::from_str::<u8>("x").unwrap_err() };
        assert_eq!(code_of(&anyhow::Error::new(parse)), Code::BadInput, "a broken history file is the user's");
        let write = H::Write { path: "h.json".into(), source: std::io::Error::other("read-only") };
        assert_eq!(code_of(&anyhow::Error::new(write)), Code::Infrastructure);
    }
}
