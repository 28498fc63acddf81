//! The ledger: one JSON line per thing a run creates, appended and synced *before* it is
//! created. A ledger whose runner is gone is what `routerlab clean` tears down.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::LabError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LedgerEntry {
    /// The runner: with its start time, so a reused pid is not mistaken for it.
    Run {
        prefix: String,
        pid: u32,
        start_time: u64,
        run_dir: PathBuf,
    },
    Netns {
        name: String,
    },
    Process {
        pid: u32,
        start_time: u64,
        host: String,
    },
    Dir {
        path: PathBuf,
    },
    /// A file outside the run directory, e.g. boringtun's control socket.
    File {
        path: PathBuf,
    },
}

/// `$ROUTERLAB_STATE`, else `/run/routerlab`: where ledgers live, found again after a crash.
pub fn state_dir() -> PathBuf {
    std::env::var_os("ROUTERLAB_STATE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/routerlab"))
}

#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: std::fs::File,
}

impl Ledger {
    pub fn create(dir: &Path, prefix: &str, run_dir: &Path) -> Result<Ledger, LabError> {
        let err = |detail: String| LabError::Ledger { path: dir.join(format!("{prefix}.ledger")), detail };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let path = dir.join(format!("{prefix}.ledger"));
        let file =
            std::fs::OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| err(e.to_string()))?;
        let mut l = Ledger { path, file };
        let pid = std::process::id();
        l.record(&LedgerEntry::Run {
            prefix: prefix.into(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            run_dir: run_dir.into(),
        })?;
        Ok(l)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&mut self, e: &LedgerEntry) -> Result<(), LabError> {
        let mut line = serde_json::to_string(e).expect("ledger entry serializes");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|err| LabError::Ledger { path: self.path.clone(), detail: err.to_string() })
    }

    pub fn read(path: &Path) -> Result<Vec<LedgerEntry>, LabError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LabError::Ledger { path: path.into(), detail: e.to_string() })?;
        // A crash can cut the last line short: keep every whole line.
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

/// `/proc/PID/stat` field 22 (start time in clock ticks since boot).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    crate::procstat::number(&crate::procstat::fields(pid)?, 22)
}

pub(crate) fn alive(pid: u32, start: u64) -> bool {
    start_time(pid).is_some_and(|s| start == 0 || s == start)
}

/// What a teardown removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanReport {
    pub runs: Vec<String>,
    pub netns: Vec<String>,
    pub processes: Vec<u32>,
    pub dirs: Vec<PathBuf>,
    pub errors: Vec<String>,
}

fn kill_and_wait(pids: &[u32]) {
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        let live: Vec<u32> = pids.iter().copied().filter(|p| start_time(*p).is_some()).collect();
        if live.is_empty() {
            return;
        }
        for p in &live {
            // SAFETY: kill(2) on pids the ledger or `ip netns pids` says belong to this run.
            unsafe { libc::kill(*p as i32, sig) };
        }
        for _ in 0..50 {
            if live.iter().all(|p| start_time(*p).is_none_or(|_| is_zombie(*p))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    crate::procstat::fields(pid).is_none_or(|f| f.first().is_none_or(|s| s == "Z"))
}

/// Tear down every entry, newest first: processes, then each namespace's own processes,
/// then the namespace, then directories.
pub(crate) fn teardown(entries: &[LedgerEntry], report: &mut CleanReport) {
    let procs: Vec<u32> = entries
        .iter()
        .filter_map(|e| match e {
            LedgerEntry::Process { pid, start_time, .. } if alive(*pid, *start_time) => Some(*pid),
            _ => None,
        })
        .collect();
    kill_and_wait(&procs);
    report.processes.extend(procs);
    for e in entries.iter().rev() {
        match e {
            LedgerEntry::Netns { name } => {
                if !Path::new("/run/netns").join(name).exists() {
                    continue;
                }
                let out = Command::new("ip").args(["netns", "pids", name]).output();
                let pids: Vec<u32> = out
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
                    })
                    .unwrap_or_default();
                kill_and_wait(&pids);
                report.processes.extend(pids);
                match Command::new("ip").args(["netns", "del", name]).output() {
                    Ok(o) if o.status.success() => report.netns.push(name.clone()),
                    Ok(o) => report
                        .errors
                        .push(format!("ip netns del {name}: {}", String::from_utf8_lossy(&o.stderr).trim())),
                    Err(e) => report.errors.push(format!("ip netns del {name}: {e}")),
                }
            }
            LedgerEntry::File { path } if path.exists() => match std::fs::remove_file(path) {
                Ok(()) => report.dirs.push(path.clone()),
                Err(e) => report.errors.push(format!("{}: {e}", path.display())),
            },
            LedgerEntry::Dir { path } if path.exists() => match std::fs::remove_dir_all(path) {
                Ok(()) => report.dirs.push(path.clone()),
                Err(e) => report.errors.push(format!("{}: {e}", path.display())),
            },
            _ => {}
        }
    }
}

/// Remove what the ledgers of dead runs in `dir` list, and nothing else.
pub fn clean_dead_runs(dir: &Path) -> Result<CleanReport, LabError> {
    let mut report = CleanReport::default();
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(report) };
    let mut ledgers: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "ledger")).collect();
    ledgers.sort();
    for path in ledgers {
        let entries = Ledger::read(&path)?;
        let Some(LedgerEntry::Run { prefix, pid, start_time, .. }) = entries.first().cloned() else {
            report.errors.push(format!("{}: no run entry; left alone", path.display()));
            continue;
        };
        if alive(pid, start_time) {
            continue; // a live run owns it
        }
        teardown(&entries, &mut report);
        report.runs.push(prefix);
        let _ = std::fs::remove_file(&path);
    }
    Ok(report)
}
