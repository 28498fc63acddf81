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
}

impl Failure {
    /// Print the one-line error and return its exit code.
    pub fn report(self) -> Code {
        let (code, err) = match self {
            Failure::BadInput(e) => (Code::BadInput, e),
            Failure::Infrastructure(e) => (Code::Infrastructure, e),
        };
        eprintln!("routerlab: error: {err:#}");
        code
    }
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
