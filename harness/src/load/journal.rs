use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::LoadError;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ErrorClass {
    /// TCP connect (refused, unreachable, source bind).
    Connect,
    /// TLS handshake.
    Tls,
    /// The request's time budget ran out.
    Timeout,
    /// The server answered 4xx or 5xx.
    HttpStatus,
    /// Malformed or aborted HTTP exchange.
    Protocol,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 5] =
        [ErrorClass::Connect, ErrorClass::Tls, ErrorClass::Timeout, ErrorClass::HttpStatus, ErrorClass::Protocol];
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    Failed(ErrorClass),
}

impl Outcome {
    pub fn error_class(self) -> Option<ErrorClass> {
        match self {
            Outcome::Status(s) if s >= 400 => Some(ErrorClass::HttpStatus),
            Outcome::Status(_) => None,
            Outcome::Failed(c) => Some(c),
        }
    }
    /// Did the server answer at all (and so, should it have logged the request)?
    pub fn answered(self) -> bool {
        matches!(self, Outcome::Status(_))
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: String,
    pub source: Option<IpAddr>,
    pub outcome: Outcome,
    /// Actual send time, microseconds after the run started.
    pub start_us: u64,
    /// TLS handshake done for this request (new connection), if any.
    pub handshake_us: Option<u64>,
    pub ttfb_us: Option<u64>,
    pub total_us: Option<u64>,
    /// Open loop only: completion minus the intended send time.
    pub corrected_us: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalHeader {
    pub run_id: String,
    pub url: String,
}

const MAGIC: &str = "# routerlab-journal v1";
const COLUMNS: &str = "id\tsource\toutcome\tstart_us\thandshake_us\tttfb_us\ttotal_us\tcorrected_us";
const FLUSH_AT: usize = 32 * 1024;
/// A batch older than this is written even if small: at a soak's low rate a 32 KiB batch
/// took minutes to fill, so lines reached the disk late (a crash lost them) and each
/// worker's buffer grew page by page for minutes, which a leak detector reads as growth.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The journal file, shared by workers. Each worker batches whole lines and appends them
/// with one `write(2)`, so lines never interleave and memory stays flat.
#[derive(Debug)]
pub(crate) struct JournalFile {
    file: File,
    path: PathBuf,
    write_errors: AtomicU64,
}

impl JournalFile {
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Arc<JournalFile>, LoadError> {
        let err = |source| LoadError::Journal { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(path).map_err(err)?;
        writeln!(file, "{MAGIC} run={} url={}\n{COLUMNS}", header.run_id, header.url).map_err(err)?;
        let file = OpenOptions::new().append(true).open(path).map_err(err)?;
        Ok(Arc::new(JournalFile { file, path: path.to_path_buf(), write_errors: AtomicU64::new(0) }))
    }
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

/// A worker's batch of lines.
#[derive(Debug)]
pub(crate) struct JournalBuf {
    file: Option<Arc<JournalFile>>,
    buf: String,
    flushed: std::time::Instant,
}

impl JournalBuf {
    pub fn new(file: Option<Arc<JournalFile>>) -> Self {
        let buf = String::with_capacity(if file.is_some() { FLUSH_AT + 256 } else { 0 });
        JournalBuf { buf, file, flushed: std::time::Instant::now() }
    }

    pub fn push(&mut self, e: &JournalEntry) {
        if self.file.is_none() {
            return;
        }
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let outcome = match e.outcome {
            Outcome::Status(s) => s.to_string(),
            Outcome::Failed(c) => c.as_str().to_string(),
        };
        let src = e.source.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            self.buf,
            "{}\t{src}\t{outcome}\t{}\t{}\t{}\t{}\t{}",
            e.id,
            e.start_us,
            opt(e.handshake_us),
            opt(e.ttfb_us),
            opt(e.total_us),
            opt(e.corrected_us)
        );
        if self.buf.len() >= FLUSH_AT || self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if let (Some(f), false) = (&self.file, self.buf.is_empty()) {
            if let Err(e) = (&f.file).write_all(self.buf.as_bytes()) {
                f.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(path = %f.path.display(), "journal write failed: {e}");
            }
            self.buf.clear();
        }
        self.flushed = std::time::Instant::now();
    }
}

impl Drop for JournalBuf {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Iterates the entries of a journal file.
pub struct JournalReader {
    lines: std::io::Lines<BufReader<File>>,
    path: PathBuf,
    line_no: usize,
}

/// Open a journal, check its header, and return it with an entry iterator.
pub fn read_journal(path: &Path) -> Result<(JournalHeader, JournalReader), LoadError> {
    let err = |detail: String| LoadError::JournalRead { path: path.to_path_buf(), detail };
    let f = File::open(path).map_err(|e| err(e.to_string()))?;
    let mut lines = BufReader::new(f).lines();
    let first = lines.next().transpose().map_err(|e| err(e.to_string()))?.unwrap_or_default();
    let rest =
        first.strip_prefix(MAGIC).ok_or_else(|| err(format!("line 1 is not a routerlab journal header: {first:?}")))?;
    let field = |k: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or_default().to_string();
    let header = JournalHeader { run_id: field("run="), url: field("url=") };
    let cols = lines.next().transpose().map_err(|e| err(e.to_string()))?.unwrap_or_default();
    if cols != COLUMNS {
        return Err(err(format!("line 2: unexpected columns {cols:?}")));
    }
    Ok((header, JournalReader { lines, path: path.to_path_buf(), line_no: 2 }))
}

impl Iterator for JournalReader {
    type Item = Result<JournalEntry, LoadError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.line_no += 1;
        let line = match self.lines.next()? {
            Ok(l) => l,
            // Found by fuzzing: a line that is not UTF-8 did not say which.
            Err(e) => {
                let detail = format!("line {}: {e}", self.line_no);
                return Some(Err(LoadError::JournalRead { path: self.path.clone(), detail }));
            }
        };
        Some(parse_entry(&line).map_err(|d| LoadError::JournalRead {
            path: self.path.clone(),
            detail: format!("line {}: {d}", self.line_no),
        }))
    }
}

fn parse_entry(line: &str) -> Result<JournalEntry, String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 8 {
        return Err(format!("expected 8 tab-separated fields, got {}", f.len()));
    }
    let num = |s: &str, name: &str| -> Result<Option<u64>, String> {
        if s == "-" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| format!("bad {name} {s:?}"))
        }
    };
    let outcome = match f[2].parse::<u16>() {
        Ok(s) => Outcome::Status(s),
        Err(_) => Outcome::Failed(
            ErrorClass::ALL
                .into_iter()
                .find(|c| c.as_str() == f[2])
                .ok_or_else(|| format!("bad outcome {:?}", f[2]))?,
        ),
    };
    let source = if f[1] == "-" { None } else { Some(f[1].parse().map_err(|_| format!("bad source {:?}", f[1]))?) };
    Ok(JournalEntry {
        id: f[0].to_string(),
        source,
        outcome,
        start_us: num(f[3], "start_us")?.ok_or("start_us is required")?,
        handshake_us: num(f[4], "handshake_us")?,
        ttfb_us: num(f[5], "ttfb_us")?,
        total_us: num(f[6], "total_us")?,
        corrected_us: num(f[7], "corrected_us")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `ci/fuzz` (fuzz/corpus/journal/regress-non-utf8-line): a line that is not
    /// UTF-8 gave an error that named no line.
    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tsv");
        let mut bytes = format!("{MAGIC} run=a url=https://x/\n{COLUMNS}\na-1\t-\t200\t1\t-\t2\t3\t-\n").into_bytes();
        bytes.extend_from_slice(b"a-2\t-\t20\xef4\t1\t-\t2\t3\t-\n");
        std::fs::write(&path, bytes).unwrap();
        let (_, entries) = read_journal(&path).unwrap();
        let results: Vec<_> = entries.collect();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let e = results[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("line 4:"), "{e}");
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tsv");
        let jf =
            JournalFile::create(&path, &JournalHeader { run_id: "abcd".into(), url: "https://x/".into() }).unwrap();
        let entries = vec![
            JournalEntry {
                id: "abcd-0".into(),
                source: Some("127.0.0.2".parse().unwrap()),
                outcome: Outcome::Status(200),
                start_us: 5,
                handshake_us: Some(900),
                ttfb_us: Some(1000),
                total_us: Some(1100),
                corrected_us: None,
            },
            JournalEntry {
                id: "abcd-1".into(),
                source: Some("2001:db8::1".parse().unwrap()),
                outcome: Outcome::Failed(ErrorClass::Tls),
                start_us: 7,
                handshake_us: None,
                ttfb_us: None,
                total_us: Some(3),
                corrected_us: Some(9),
            },
        ];
        {
            let mut b = JournalBuf::new(Some(jf.clone()));
            entries.iter().for_each(|e| b.push(e));
        }
        let (h, r) = read_journal(&path).unwrap();
        assert_eq!(h, JournalHeader { run_id: "abcd".into(), url: "https://x/".into() });
        assert_eq!(r.collect::<Result<Vec<_>, _>>().unwrap(), entries);
        assert_eq!(jf.write_errors(), 0);
    }

    #[test]
    fn a_trickle_of_lines_reaches_the_file_within_a_second_not_at_32_kib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tsv");
        let jf = JournalFile::create(&path, &JournalHeader { run_id: "t".into(), url: "u".into() }).unwrap();
        let e = |i: u64| JournalEntry {
            id: format!("t-{i}"),
            source: None,
            outcome: Outcome::Status(200),
            start_us: i,
            handshake_us: None,
            ttfb_us: None,
            total_us: Some(1),
            corrected_us: None,
        };
        let mut b = JournalBuf::new(Some(jf));
        b.push(&e(0));
        std::thread::sleep(FLUSH_EVERY + std::time::Duration::from_millis(50));
        b.push(&e(1));
        // Both lines are on disk while the batch is still open (well under 32 KiB).
        let (_, r) = read_journal(&path).unwrap();
        assert_eq!(r.count(), 2);
        drop(b);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.tsv");
        std::fs::write(&path, format!("{MAGIC} run=a url=u\n{COLUMNS}\na-0\t1.2.3.4\tbogus\t1\t-\t-\t-\t-\n")).unwrap();
        let (_, mut r) = read_journal(&path).unwrap();
        let e = r.next().unwrap().unwrap_err().to_string();
        assert!(e.ends_with("line 3: bad outcome \"bogus\""), "{e}");
        std::fs::write(&path, "hello\n").unwrap();
        assert!(read_journal(&path).is_err());
    }
}
