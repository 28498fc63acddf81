//! Helpers shared by the CLI-level and end-to-end tests: the binary and the checkout, a
//! `routerlab run` and its report (raw for the schema, typed for the assertions), and a
//! `routerlab backend` child process. Each test file uses some of them.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::model::Report;

/// The `routerlab` binary under test.
pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_routerlab"))
}

/// The checkout: scenarios, images and docs.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a `routerlab run` left: its exit code, report.json as written (for the schema)
/// and as the typed model reads it, and its output.
pub struct Ran {
    pub code: i32,
    pub json: serde_json::Value,
    pub report: Report,
    pub out: String,
}

/// `routerlab run ARGS --out OUT` from the checkout.
pub fn run(args: &[&str], out: &Path) -> Ran {
    let o = Command::new(exe())
        .arg("run")
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let file = out.join("report.json");
    let raw = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("no report: {text}"));
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let report: Report =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{}: not the model: {e}", file.display()));
    Ran { code: o.status.code().unwrap_or(-1), json, report, out: text }
}

/// A child process, killed and reaped when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `routerlab backend` on a loopback port with its access log in `dir`; returns the child,
/// its URL (from its first stdout line) and the rest of its stdout.
pub fn start_backend(dir: &Path, extra: &[&str]) -> (Proc, String, BufReader<std::process::ChildStdout>) {
    let mut args = vec!["backend", "--listen", "127.0.0.1:0", "--access-log"];
    let log = dir.join("access.log");
    args.push(log.to_str().unwrap());
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_routerlab")).args(&args).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line.strip_prefix("listening ").unwrap().split_whitespace().next().unwrap().to_string();
    (Proc(child), url, stdout)
}
