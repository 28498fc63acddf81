//! Helpers shared by the CLI-level tests: a `routerlab backend` child process.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

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
