//! A cell's directory and what is in it: the one place the names of its files are spelled.
//! The runner writes them, the report and the capture read them back. The first cell's
//! directory is also the session's: the router's console, the backend's logs and the
//! guest's accounts are there.
use std::path::{Path, PathBuf};

/// The two load phases, each with its journal, summary and latency log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPhase {
    Warmup,
    Steady,
}

impl LoadPhase {
    fn stem(self) -> &'static str {
        match self {
            LoadPhase::Warmup => "warmup",
            LoadPhase::Steady => "steady",
        }
    }
}

/// One cell's directory.
#[derive(Debug, Clone, Copy)]
pub struct CellDir<'a>(pub &'a Path);

impl<'a> CellDir<'a> {
    pub fn path(&self) -> &'a Path {
        self.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The load generator's per-request journal (TSV) of a phase.
    pub fn journal(&self, p: LoadPhase) -> PathBuf {
        self.file(&format!("{}.journal.tsv", p.stem()))
    }

    /// The load generator's `--json` summary of a phase.
    pub fn load_summary(&self, p: LoadPhase) -> PathBuf {
        self.file(&format!("{}.load.json", p.stem()))
    }

    /// A phase's latency as an HdrHistogram interval log.
    pub fn hlog(&self, p: LoadPhase) -> PathBuf {
        self.file(&format!("{}.hlog", p.stem()))
    }

    /// Every request of the steady phase against the access log.
    pub fn reconciliation(&self) -> PathBuf {
        self.file("reconciliation.json")
    }

    pub fn timeline(&self) -> PathBuf {
        self.file("timeline.json")
    }

    /// The proxy's configuration as deployed.
    pub fn proxy_conf(&self) -> PathBuf {
        self.file("proxy.conf")
    }

    /// The proxy's own output and its config check, from the router.
    pub fn proxy_log(&self) -> PathBuf {
        self.file("proxy.log")
    }

    /// The routerlab backend's access log (the session's).
    pub fn access_log(&self) -> PathBuf {
        self.file("access.log")
    }

    /// Connections the backend refused by its PROXY-protocol checks (the session's).
    pub fn rejects_log(&self) -> PathBuf {
        self.file("rejects.log")
    }

    /// The guest kernel's log, from the router.
    pub fn guest_kernel_log(&self) -> PathBuf {
        self.file("guest-kernel.log")
    }

    /// Files a person opens when a cell goes wrong, linked from the report when present.
    pub const FOR_PEOPLE: [&'static str; 10] = [
        "router.console.log",
        "proxy.conf",
        "proxy.log",
        "access.log",
        "steady.journal.tsv",
        "reconciliation.json",
        "guest-kernel.log",
        "router.metrics.log",
        "router.qemu.sh",
        "timeline.json",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_people_open_are_the_files_the_runner_writes() {
        let d = CellDir(Path::new("/c"));
        let written = [
            d.proxy_conf(),
            d.proxy_log(),
            d.access_log(),
            d.journal(LoadPhase::Steady),
            d.reconciliation(),
            d.guest_kernel_log(),
            d.timeline(),
        ];
        for w in written {
            let name = w.file_name().unwrap().to_str().unwrap();
            assert!(CellDir::FOR_PEOPLE.contains(&name), "{name} is not linked from the report");
        }
        assert_ne!(d.journal(LoadPhase::Warmup), d.journal(LoadPhase::Steady));
    }
}
