//! One module per subcommand.
mod backend;
mod certs;
mod check;
mod compare;
mod fetch;
mod image;
mod lab;
mod load;
mod report;
mod run;
mod verify;
mod vm;

use crate::cli::Command;
use crate::exit::CmdResult;

pub fn dispatch(cmd: Command) -> CmdResult {
    match cmd {
        Command::Backend(a) => backend::run(a),
        Command::Load(a) => load::run(a),
        Command::Certs(a) => certs::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Image(c) => image::run(c),
        Command::Vm(c) => vm::run(c),
        Command::Lab(c) => lab::run(c),
        Command::Clean { state } => lab::clean(state),
        Command::Check(a) => check::run(a),
        Command::Run(a) => run::run(a),
        Command::Report(a) => report::run(a),
        Command::Merge { runs, out } => report::merge(&runs, &out),
        Command::Schema { what } => {
            let s =
                if what == "build" { harness::scenario::build_schema() } else { harness::scenario::scenario_schema() };
            outln!("{}", serde_json::to_string_pretty(&s).expect("a schema is JSON"));
            Ok(crate::exit::Code::Ok)
        }
        Command::Compare(a) => compare::run(a),
    }
}

/// A multi-threaded tokio runtime for commands that do network I/O.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, crate::exit::Failure> {
    use crate::exit::Classify;
    tokio::runtime::Builder::new_multi_thread().enable_all().build().infra()
}

/// Write text to `path`, naming the path on failure.
pub(crate) fn write_text(path: &std::path::Path, text: &str) -> Result<(), crate::exit::Failure> {
    use crate::exit::Classify;
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())).infra()
}

/// Append `markdown` to the file GitHub Actions names in `GITHUB_STEP_SUMMARY`, if set, so
/// a job's summary page shows what `run` and `compare` found.
pub(crate) fn step_summary(markdown: &str) -> Result<(), crate::exit::Failure> {
    use crate::exit::Classify;
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else { return Ok(()) };
    let path = std::path::PathBuf::from(path);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{markdown}\n").as_bytes()))
        .map_err(|e| anyhow::anyhow!("cannot append to GITHUB_STEP_SUMMARY {}: {e}", path.display()))
        .infra()
}

/// Write pretty JSON to `path`, naming the path on failure.
pub(crate) fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<(), crate::exit::Failure> {
    write_text(path, &(serde_json::to_string_pretty(value).expect("serializable") + "\n"))
}
