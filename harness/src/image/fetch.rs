//! `routerlab image fetch`: download a pinned release artifact (images/openwrt.toml) into
//! the cache and verify its sha256 while streaming. An artifact without a pinned sum is
//! refused; without a network the error says how to pass a local file instead.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

use super::error::io;
use super::ImageError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Artifact {
    pub name: String,
    pub release: String,
    /// The routerlab target that boots it.
    pub qemu_target: String,
    pub url: String,
    /// From the release's `sha256sums`; empty means not pinned.
    pub sha256: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pins {
    artifact: Vec<Artifact>,
}

pub fn load_pins(path: &Path) -> Result<Vec<Artifact>, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::RecipeRead { path: path.into(), source })?;
    let pins: Pins = crate::textpos::from_toml(&text).map_err(|(line, column, message)| ImageError::RecipeParse {
        path: path.into(),
        line,
        column,
        message,
    })?;
    Ok(pins.artifact)
}

/// Fetch `name` from `pins` into `cache/downloads/`, or return the cached, verified file.
pub async fn fetch(pins_path: &Path, name: &str, cache: &Path) -> Result<PathBuf, ImageError> {
    let pins = load_pins(pins_path)?;
    let a = pins.iter().find(|a| a.name == name).ok_or_else(|| ImageError::UnknownImage {
        name: name.into(),
        dir: pins_path.into(),
        available: pins.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", "),
    })?;
    let invalid = |message: String| ImageError::RecipeInvalid { path: pins_path.into(), message };
    if !super::is_sha256_hex(&a.sha256) {
        return Err(invalid(format!(
            "{name}: no sha256 pinned; copy it from the release's sha256sums beside {} (or download the file yourself, check it, and pass --image PATH)",
            a.url
        )));
    }
    let file = a
        .url
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| invalid(format!("{name}: url has no file name")))?;
    let dir = cache.join("downloads");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let dest = dir.join(file);
    match get_pinned(&a.url, &a.sha256, &dest).await {
        Ok(()) => Ok(dest),
        Err(PinnedMiss::Unreachable(detail)) => Err(ImageError::Command {
            command: format!("download {}", a.url),
            status: "failed".into(),
            stderr: format!("{detail}. Without network access: download it elsewhere, check its sha256 against the release's sha256sums, and pass it with --image PATH"),
        }),
        Err(PinnedMiss::Mismatch { got }) => {
            Err(invalid(format!("{name}: sha256 of the download is {got}, pinned {}; refusing it", a.sha256)))
        }
        Err(PinnedMiss::Image(e)) => Err(e),
    }
}

/// Why a pinned file is not at its place.
#[derive(Debug)]
pub(crate) enum PinnedMiss {
    /// The GET failed: no route, a refused connection, an HTTP error.
    Unreachable(String),
    /// It came, with another sha256; it was not kept.
    Mismatch {
        got: String,
    },
    Image(ImageError),
}

/// `dest` with sha256 `sha256`: kept when it already is, else fetched from `url` beside it
/// (`dest.part`), checked while streaming, and moved into place only when it matches.
pub(crate) async fn get_pinned(url: &str, sha256: &str, dest: &Path) -> Result<(), PinnedMiss> {
    let want = sha256.to_ascii_lowercase();
    if dest.is_file() && super::build::sha256_file(dest).map_err(PinnedMiss::Image)? == want {
        return Ok(());
    }
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let got = download(url, &part).await.map_err(PinnedMiss::Unreachable)?;
    if got != want {
        let _ = std::fs::remove_file(&part);
        return Err(PinnedMiss::Mismatch { got });
    }
    std::fs::rename(&part, dest).map_err(|e| PinnedMiss::Image(io(dest)(e)))
}

/// [`get_pinned`] for code that does not run on tokio (a source build): on a thread of its
/// own with a runtime of its own, so it is safe inside another runtime as well.
pub(crate) fn get_pinned_blocking(url: &str, sha256: &str, dest: &Path) -> Result<(), PinnedMiss> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let rt = rt.map_err(|e| PinnedMiss::Unreachable(format!("no runtime for the download: {e}")))?;
            rt.block_on(get_pinned(url, sha256, dest))
        })
        .join()
        .unwrap_or_else(|_| Err(PinnedMiss::Unreachable("the download's thread panicked".into())))
    })
}

/// GET `url` into `out`, returning the sha256 of what was written.
async fn download(url: &str, out: &Path) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad url: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("only http and https URLs".into()),
    };
    let host = uri.host().ok_or("url has no host")?.trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let req = http::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", uri.authority().map(|a| a.as_str()).unwrap_or(&host))
        .header("user-agent", "routerlab")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = if tls {
        let roots = PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
        let cfg = crate::tls::client_config(
            &crate::tls::ClientTrust::Ca(roots),
            crate::tls::Resumption::Enabled,
            &[b"http/1.1"],
        )
        .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(TokioIo::new(stream), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut f = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut h = Sha256::new();
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading body: {e}"))?;
        if let Some(d) = frame.data_ref() {
            h.update(d);
            f.write_all(d).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    f.sync_all().map_err(|e| e.to_string())?;
    Ok(super::build::hex(&h.finalize()))
}

async fn send<I>(io: I, req: http::Request<Empty<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut s, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    s.send_request(req).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve(body: Vec<u8>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let hdr = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = s.write_all(hdr.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
        });
        port
    }

    fn pins(dir: &Path, url: &str, sha: &str) -> PathBuf {
        let p = dir.join("pins.toml");
        std::fs::write(&p, format!("[[artifact]]\nname = \"x\"\nrelease = \"1\"\nqemu-target = \"aarch64-virt\"\nurl = \"{url}\"\nsha256 = \"{sha}\"\n")).unwrap();
        p
    }

    #[tokio::test]
    async fn downloads_verifies_and_caches() {
        let d = tempfile::tempdir().unwrap();
        let body = b"an openwrt kernel".to_vec();
        let port = serve(body.clone()).await;
        let url = format!("http://127.0.0.1:{port}/openwrt-x-initramfs-kernel.bin");
        let good = super::super::sha256_hex(&body);
        let got = fetch(&pins(d.path(), &url, &good), "x", d.path()).await.unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), body);
        // Cached: found again without the server.
        let again = fetch(&pins(d.path(), "http://127.0.0.1:1/openwrt-x-initramfs-kernel.bin", &good), "x", d.path())
            .await
            .unwrap();
        assert_eq!(again, got);
    }

    #[tokio::test]
    async fn wrong_sum_unpinned_and_offline_are_refused_clearly() {
        let d = tempfile::tempdir().unwrap();
        let port = serve(b"tampered".to_vec()).await;
        let e = fetch(&pins(d.path(), &format!("http://127.0.0.1:{port}/k.bin"), &"0".repeat(64)), "x", d.path())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("sha256 of the download is") && e.to_string().contains("refusing"), "{e}");
        assert!(!d.path().join("downloads/k.bin").exists() && !d.path().join("downloads/k.bin.part").exists());
        let e = fetch(&pins(d.path(), "http://127.0.0.1:9/k.bin", ""), "x", d.path()).await.unwrap_err();
        assert!(e.to_string().contains("no sha256 pinned") && e.to_string().contains("--image PATH"), "{e}");
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        drop(dead);
        let e = fetch(&pins(d.path(), &format!("http://127.0.0.1:{dead_port}/k.bin"), &"a".repeat(64)), "x", d.path())
            .await
            .unwrap_err();
        let m = e.to_string();
        assert!(m.contains("cannot connect") && m.contains("pass it with --image PATH"), "{m}");
        let e = fetch(&pins(d.path(), "http://x/k.bin", ""), "nope", d.path()).await.unwrap_err();
        assert!(e.to_string().contains("available: x"), "{e}");
    }

    #[test]
    fn shipped_pins_parse_and_name_known_targets() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/openwrt.toml");
        let pins = load_pins(&p).unwrap();
        let names: Vec<&str> = pins.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["malta-le", "malta-be", "armsr-armv8", "malta-le-25.12", "armsr-armv8-25.12"]);
        for a in &pins {
            assert!(a.qemu_target.parse::<crate::vm::Target>().is_ok(), "{}", a.qemu_target);
            assert!(a.url.starts_with("https://downloads.openwrt.org/releases/"));
        }
    }
}
