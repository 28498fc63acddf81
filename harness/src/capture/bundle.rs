//! After a cell: drop its packets, or keep them with the key log and a Wireshark command,
//! and decode the first failing request ids on every link.
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::{decode, trace, CaptureMode, CapturePoint, Sighting};
use crate::model::{CaptureFile, CaptureSection};

/// How many failing request ids are followed through the links.
pub const TRACED_IDS: usize = 3;

/// The script that opens a link's packets in Wireshark, decrypted.
const OPEN_IN_WIRESHARK: &str = include_str!("../../../scenarios/templates/capture/open-in-wireshark.sh");

/// A request the cell got wrong, and the address it was sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingId {
    pub id: String,
    pub client: Option<IpAddr>,
    pub why: String,
}

/// What the recorder left, for [`finish`].
pub struct Recorded<'a> {
    pub dir: &'a Path,
    pub files: Vec<CaptureFile>,
    pub dropped: u64,
    pub points: &'a [CapturePoint],
    /// The key logs of the load generator and the backend (missing files are skipped).
    pub keylogs: &'a [PathBuf],
}

/// Keep the capture when `mode` says so for a cell that `passed` or not; then write
/// `keys.log` and `open-in-wireshark.sh`, and trace the first [`TRACED_IDS`] of `failing`.
pub async fn finish(mode: CaptureMode, passed: bool, rec: Recorded<'_>, failing: &[FailingId]) -> CaptureSection {
    let mut s = CaptureSection { mode: mode.to_string(), dropped: rec.dropped, ..Default::default() };
    if mode == CaptureMode::OnFailure && passed {
        let _ = std::fs::remove_dir_all(rec.dir);
        return s;
    }
    s.kept = true;
    s.dir = Some(rec.dir.display().to_string());
    let keys = rec.dir.join("keys.log");
    let text: String = rec.keylogs.iter().filter_map(|k| std::fs::read_to_string(k).ok()).collect();
    if let Err(e) = std::fs::write(&keys, text) {
        s.error = Some(format!("{}: {e}", keys.display()));
    }
    // The parts now in keys.log that lived in the capture directory (the load generator's).
    for k in rec.keylogs.iter().filter(|k| k.starts_with(rec.dir)) {
        let _ = std::fs::remove_file(k);
    }
    s.keylog = Some(keys.display().to_string());
    let mut seen: Vec<Vec<Sighting>> = Vec::new();
    for p in rec.points {
        let Some(f) = rec.files.iter().find(|f| f.link == p.link) else {
            seen.push(Vec::new());
            continue;
        };
        match decode(Path::new(&f.path), &keys).await {
            Ok(v) => seen.push(v),
            Err(e) => {
                s.error.get_or_insert_with(|| e.to_string());
                seen.push(Vec::new());
            }
        }
    }
    s.traces =
        failing.iter().take(TRACED_IDS).map(|f| trace(&f.id, f.client, f.why.clone(), rec.points, &seen)).collect();
    let link = s.traces.iter().find_map(|t| t.lost_at.as_deref()).and_then(|l| l.split(' ').next()).unwrap_or("wan");
    s.wireshark =
        Some(format!("wireshark -o tls.keylog_file:{} -r {}/{link}.pcapng", keys.display(), rec.dir.display()));
    write_opener(rec.dir, link);
    s.bytes = rec.files.iter().map(|f| f.bytes).sum::<u64>() + std::fs::metadata(&keys).map(|m| m.len()).unwrap_or(0);
    s.files = rec.files;
    s
}

/// `open-in-wireshark.sh [link]`, executable, defaulting to `link`.
fn write_opener(dir: &Path, link: &str) {
    let vars = [("link", link.to_string())].into_iter().collect();
    let Ok(text) = crate::template::render("capture/open-in-wireshark.sh", OPEN_IN_WIRESHARK, &vars) else { return };
    let path = dir.join("open-in-wireshark.sh");
    if std::fs::write(&path, text).is_ok() {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_passing_cell_under_on_failure_keeps_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("capture");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("wan.pcapng"), b"x").unwrap();
        let rec = Recorded { dir: &dir, files: vec![], dropped: 0, points: &[], keylogs: &[] };
        let s = finish(CaptureMode::OnFailure, true, rec, &[]).await;
        assert!(!s.kept && !dir.exists());
    }

    #[tokio::test]
    async fn a_kept_capture_has_both_key_logs_in_one_file_and_an_opener() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("capture");
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (d.path().join("a.keys"), d.path().join("b.keys"));
        std::fs::write(&a, "CLIENT_RANDOM aa bb\n").unwrap();
        std::fs::write(&b, "SERVER_TRAFFIC_SECRET_0 cc dd\n").unwrap();
        let keylogs = [a, b, d.path().join("missing")];
        let rec = Recorded { dir: &dir, files: vec![], dropped: 2, points: &[], keylogs: &keylogs };
        let s = finish(CaptureMode::Always, true, rec, &[]).await;
        assert!(s.kept && s.dropped == 2);
        let keys = std::fs::read_to_string(dir.join("keys.log")).unwrap();
        assert_eq!(keys.lines().count(), 2, "{keys}");
        let opener = std::fs::read_to_string(dir.join("open-in-wireshark.sh")).unwrap();
        assert!(opener.contains("\"${1:-wan}.pcapng\""), "{opener}");
        assert!(s.wireshark.unwrap().ends_with("capture/wan.pcapng"));
    }
}
