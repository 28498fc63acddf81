//! A Debian source package by the address of its `.dsc`, pinned by sha256: for a version the
//! private apt state's index does not list (a newer suite's, or one Debian has replaced since).
//! The `.dsc` must match its pin, and each file it lists must match the sha256 the `.dsc`
//! gives it, so the pin covers every byte. Files already in the cache are checked, not fetched;
//! the rest come by `image::fetch`'s pinned download.
use std::path::{Path, PathBuf};

use super::error::{io, SourceError};

/// Fetch the `.dsc` at `url` and the files it lists into `dest`; the `.dsc`'s path.
pub(crate) fn fetch(url: &str, sha256: &str, dest: &Path) -> Result<PathBuf, SourceError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let (base, name) = url.rsplit_once('/').unwrap_or(("", url));
    let dsc = dest.join(name);
    get(url, &dsc, sha256)?;
    let text = std::fs::read_to_string(&dsc).map_err(io(&dsc))?;
    let listed = files(&text);
    if listed.is_empty() {
        return Err(SourceError::Download { url: url.into(), detail: "the .dsc lists no Checksums-Sha256".into() });
    }
    for (sha, file) in listed {
        get(&format!("{base}/{file}"), &dest.join(&file), &sha)?;
    }
    Ok(dsc)
}

/// The `Checksums-Sha256` field of a `.dsc`: each file's sha256 and name. A name with a path
/// in it is left out (a `.dsc` lists plain names; anything else would write outside `dest`).
pub(crate) fn files(dsc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in dsc.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "Checksums-Sha256:";
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [sha, _size, name] = f[..] {
            let plain = !name.contains('/') && !name.starts_with('.');
            if inside && plain && crate::image::is_sha256_hex(sha) {
                out.push((sha.to_ascii_lowercase(), name.to_string()));
            }
        }
    }
    out
}

/// `path` with sha256 `sha`: kept if it is already, else fetched from `url` and checked
/// (`image::fetch`'s pinned download, as `routerlab image fetch` does it).
fn get(url: &str, path: &Path, sha: &str) -> Result<(), SourceError> {
    use crate::image::fetch::PinnedMiss;
    crate::image::fetch::get_pinned_blocking(url, sha, path).map_err(|m| match m {
        PinnedMiss::Unreachable(detail) => SourceError::Download { url: url.into(), detail },
        PinnedMiss::Mismatch { got } => SourceError::Checksum { url: url.into(), expected: sha.into(), actual: got },
        PinnedMiss::Image(e) => SourceError::Apt(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSC: &str = "Format: 3.0 (quilt)\nSource: haproxy\nChecksums-Sha1:\n 3a63 4738655 haproxy_3.0.11.orig.tar.gz\n\
        Checksums-Sha256:\n a133e2d550c5fd9a849b5c7ab17bb945bcdad209ca140d41f45ebf31943ae783 4738655 haproxy_3.0.11.orig.tar.gz\n \
        3C038B0A9F488A846D723AED4CC24F36B12C3CB846DEECE50E506386A8DBE6B7 101172 haproxy_3.0.11-1+deb13u3.debian.tar.xz\n \
        ab 1 short.tar.gz\n 0000000000000000000000000000000000000000000000000000000000000000 1 ../escape.tar.gz\n\
        Files:\n daa269dc9a9b49318b22ad7676ebea5c 4738655 haproxy_3.0.11.orig.tar.gz\n";

    #[test]
    fn the_dsc_lists_its_files_by_sha256_and_nothing_outside_its_directory() {
        let f = files(DSC);
        let names: Vec<&str> = f.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["haproxy_3.0.11.orig.tar.gz", "haproxy_3.0.11-1+deb13u3.debian.tar.xz"]);
        assert!(f[1].0.starts_with("3c038b0a"), "hex compared in lower case: {f:?}");
        assert!(files("Source: x\nFiles:\n daa2 1 x.tar.gz\n").is_empty());
    }

    /// A one-shot HTTP server on loopback: each connection gets `body` with status 200 when
    /// the path is `/ok`, else 404. Its base address.
    fn serve(body: &'static str) -> String {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap_or(0);
                let ok = String::from_utf8_lossy(&buf[..n]).starts_with("GET /ok ");
                let (status, text) = if ok { ("200 OK", body) } else { ("404 Not Found", "") };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", text.len());
                let _ = c.write_all(head.as_bytes()).and_then(|_| c.write_all(text.as_bytes()));
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_cached_file_with_its_sha256_is_kept_and_one_without_is_fetched_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.tar.gz");
        std::fs::write(&p, "x").unwrap();
        let sha = crate::image::sha256_hex(b"x");
        // Kept: no fetch is tried (the address could not be reached).
        get("http://127.0.0.1:9/x.tar.gz", &p, &sha.to_ascii_uppercase()).unwrap();
        // A loopback server stands in for the mirror: a wrong pin is refused and not kept.
        let url = format!("{}/ok", serve("other"));
        let other = crate::image::sha256_hex(b"other");
        let e = get(&url, &p, &"0".repeat(64)).unwrap_err().to_string();
        assert!(e.contains(&url) && e.contains(&"0".repeat(64)) && e.contains(&other), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x", "the cached file stays as it was");
        assert!(!d.path().join("x.tar.gz.part").exists(), "nor is the download kept beside it");
        get(&url, &p, &other).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "other");
        let gone = url.replace("/ok", "/gone.tar.gz");
        let e = get(&gone, &d.path().join("y"), &sha).unwrap_err().to_string();
        assert!(e.contains(&gone) && e.contains("HTTP 404"), "{e}");
    }
}
