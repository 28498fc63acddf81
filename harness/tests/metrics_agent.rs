//! The guest metrics agent (images/rootfs/metrics-agent.sh) on the host, without QEMU: the
//! awk program exactly as the script's shell hands it to awk, run by the host's awk against
//! asks from a file and the host's own /proc, and its answer read by the harness's parser.
//! A quote in the program that ends the shell's string, an awk syntax error or a line the
//! host cannot parse fails here rather than as an empty metrics log in a cell.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::vm::{parse_line, MetricLine};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/rootfs/metrics-agent.sh")
}

/// The program the script passes to awk: the script run by `sh`, with its port redirection
/// dropped and `exec awk` made `exec printf %s`.
fn program() -> String {
    let text = std::fs::read_to_string(script()).unwrap();
    assert!(text.contains("\nexec awk '"), "the script no longer ends in `exec awk '...'`");
    let shown: String = text
        .lines()
        .filter(|l| !l.starts_with("exec <>"))
        .map(|l| l.replacen("exec awk '", "exec printf %s '", 1) + "\n")
        .collect();
    let out = Command::new("sh").arg("-c").arg(shown).arg("agent").output().unwrap();
    assert!(out.status.success(), "sh: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A child process with a name no other process on the host has: a copy of `sleep`.
fn watched(dir: &Path) -> (std::process::Child, String) {
    let name = format!("rlagent{}", std::process::id() % 100_000);
    let exe = dir.join(&name);
    std::fs::copy("/bin/sleep", &exe).unwrap();
    (Command::new(&exe).arg("30").spawn().unwrap(), name)
}

#[test]
fn the_agent_answers_each_ask_with_lines_the_host_parses() {
    let program = program();
    assert!(program.trim_end().ends_with('}'), "the program is cut short:\n{program}");
    let dir = std::env::temp_dir().join(format!("rl-agent-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut child, name) = watched(&dir);
    std::fs::write(dir.join("agent.awk"), &program).unwrap();
    let asks = format!("w {name}\nt m u\nt\nt\n");
    let mut awk = Command::new("awk")
        .arg("-f")
        .arg(dir.join("agent.awk"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(awk.stdin.as_mut().unwrap(), asks.as_bytes()).unwrap();
    let out = awk.wait_with_output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success() && out.stderr.is_empty(), "awk: {}", String::from_utf8_lossy(&out.stderr));

    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let parsed: Vec<MetricLine> =
        lines.iter().map(|l| parse_line(l).unwrap_or_else(|| panic!("unparsed {l:?} in:\n{text}"))).collect();
    assert!(matches!(parsed[0], MetricLine::Header { cpus, .. } if cpus > 0), "{text}");
    let ends = parsed.iter().filter(|m| **m == MetricLine::End).count();
    assert_eq!(ends, 3, "one `.` per ask:\n{text}");
    let uptimes = parsed.iter().filter(|m| matches!(m, MetricLine::Uptime { .. })).count();
    let mems = parsed.iter().filter(|m| matches!(m, MetricLine::Mem { .. })).count();
    assert_eq!((uptimes, mems), (1, 3), "clock and memory only when asked:\n{text}");
    let procs: Vec<&&str> = lines.iter().filter(|l| l.contains(&format!("({name})"))).collect();
    assert_eq!(procs.len(), 3, "the watched process in every sample:\n{text}");
    for l in procs {
        let fields = l.split_whitespace().count();
        assert_eq!(fields, 24, "/proc/PID/stat up to the RSS, no further: {l}");
    }
}
