//! tcpdump on every link, each into a bounded ring buffer, started before a cell's load and
//! stopped after it. The processes are the lab's helpers: in its ledger, and killed with
//! the runner.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CaptureError, CapturePoint};
use crate::model::CaptureFile;
use crate::netlab::Lab;

/// One ring file's size in MB (tcpdump `-C`), and how many a link keeps (`-W`): at most
/// 20 MB of the newest packets per link.
pub const RING_FILE_MB: u32 = 5;
pub const RING_FILES: u32 = 4;

/// tcpdump's arguments for one link: whole packets, no name lookups, a 4 MiB kernel buffer,
/// still root when it writes (Debian's tcpdump drops to its own user otherwise), and the
/// ring `<dir>/<link>.pcap0` .. `<link>.pcap3`.
pub fn tcpdump_args(p: &CapturePoint, dir: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["-i", &p.ifname, "-n", "-s", "0", "-B", "4096", "-Z", "root"].map(String::from).into();
    a.extend(["-C".into(), RING_FILE_MB.to_string(), "-W".into(), RING_FILES.to_string()]);
    a.extend(["-w".into(), dir.join(format!("{}.pcap", p.link)).display().to_string()]);
    a
}

/// The captures of one cell, running.
pub struct Recorder {
    dir: PathBuf,
    running: Vec<(CapturePoint, String)>,
}

impl Recorder {
    /// Start tcpdump on every point, into `dir`, and wait until each one listens. If one
    /// cannot start, those started are stopped again.
    pub async fn start(lab: &mut Lab, points: &[CapturePoint], dir: &Path) -> Result<Recorder, CaptureError> {
        std::fs::create_dir_all(dir).map_err(CaptureError::io(dir))?;
        let mut r = Recorder { dir: dir.to_path_buf(), running: Vec::new() };
        for p in points {
            let label = format!("tcpdump-{}", p.link);
            if let Err(source) = lab.spawn(&p.host, &label, Path::new("tcpdump"), &tcpdump_args(p, dir), None) {
                r.stop(lab).await;
                return Err(CaptureError::Lab { at: p.at(), source });
            }
            r.running.push((p.clone(), label));
        }
        let waited = Duration::from_secs(5);
        for (p, label) in r.running.clone() {
            let err = stderr_path(lab, &p, &label);
            let t0 = std::time::Instant::now();
            let mut exited = None;
            // Listening, or gone (a bad interface, no permission): no need to wait longer.
            let settled = async || {
                exited = lab.exited(&label);
                Ok::<_, std::convert::Infallible>(exited.is_some() || read(&err).contains("listening on"))
            };
            let _ = crate::wait::poll_until(waited, Duration::from_millis(50), settled).await;
            if exited.is_some() || !read(&err).contains("listening on") {
                let stderr = read(&err).trim().to_string();
                let why =
                    exited.map_or_else(|| format!("not listening after {} ms", waited.as_millis()), |s| s.to_string());
                r.stop(lab).await;
                return Err(CaptureError::NotListening { at: p.at(), why, stderr });
            }
            tracing::debug!("capture {} listening after {:?}", p.link, t0.elapsed());
        }
        Ok(r)
    }

    /// Stop every capture (SIGTERM: tcpdump flushes its file), and make one pcapng per link
    /// from its ring. Returns the files and the packets the kernel dropped.
    pub async fn stop(&mut self, lab: &mut Lab) -> (Vec<CaptureFile>, u64) {
        let mut files = Vec::new();
        let mut dropped = 0;
        for (p, label) in std::mem::take(&mut self.running) {
            lab.stop(&label, Duration::from_secs(3)).await;
            dropped += dropped_by_kernel(&read(&stderr_path(lab, &p, &label)));
            match merge_ring(&self.dir, &p.link) {
                Ok(path) => files.push(CaptureFile {
                    link: p.link.clone(),
                    at: p.at(),
                    bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                    path: path.display().to_string(),
                }),
                Err(e) => tracing::warn!("capture {}: {}", p.link, crate::errtext::Chain(&e)),
            }
        }
        (files, dropped)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn stderr_path(lab: &Lab, p: &CapturePoint, label: &str) -> PathBuf {
    lab.run_dir.join(format!("{}.{label}.err", p.host))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// tcpdump's closing line `N packets dropped by kernel`.
fn dropped_by_kernel(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(" packets dropped by kernel").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

/// `<link>.pcap0` .. in the ring, merged by time into `<link>.pcapng` (mergecap); the ring
/// files are removed once merged.
fn merge_ring(dir: &Path, link: &str) -> Result<PathBuf, CaptureError> {
    let stem = format!("{link}.pcap");
    let mut ring: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(CaptureError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.strip_prefix(&stem).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    ring.sort();
    let out = dir.join(format!("{link}.pcapng"));
    let o = std::process::Command::new("mergecap")
        .arg("-w")
        .arg(&out)
        .args(&ring)
        .output()
        .map_err(|source| CaptureError::Spawn { program: "mergecap".into(), source })?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr).trim().to_string();
        return Err(CaptureError::Tool { program: "mergecap", path: out, status: o.status, stderr });
    }
    for f in ring {
        let _ = std::fs::remove_file(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdump_records_whole_packets_into_a_bounded_ring_as_root() {
        let p = CapturePoint {
            link: "wan".into(),
            host: "internet".into(),
            ifname: "in1".into(),
            ends: ("internet".into(), "router".into()),
        };
        let a = tcpdump_args(&p, Path::new("/c")).join(" ");
        assert_eq!(a, "-i in1 -n -s 0 -B 4096 -Z root -C 5 -W 4 -w /c/wan.pcap");
    }

    #[test]
    fn the_kernels_drops_are_read_from_tcpdumps_last_words() {
        let err =
            "listening on in1\n1200 packets captured\n1210 packets received by filter\n7 packets dropped by kernel\n";
        assert_eq!(dropped_by_kernel(err), 7);
        assert_eq!(dropped_by_kernel("tcpdump: in1: No such device\n"), 0);
    }
}
