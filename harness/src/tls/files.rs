use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{IssuedCert, Pki, TlsError};

/// One file written by [`Pki::write_to`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenFile {
    pub role: String,
    pub path: PathBuf,
    pub secret: bool,
}

/// Paths of the PEM files a proxy or backend needs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PkiFiles {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub frontend_cert: PathBuf,
    pub frontend_key: PathBuf,
    /// HAProxy's `crt` file: certificate followed by its key, in one PEM.
    pub frontend_bundle: PathBuf,
    pub backend_cert: PathBuf,
    pub backend_key: PathBuf,
    pub backend_bundle: PathBuf,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub client_bundle: Option<PathBuf>,
    pub written: Vec<WrittenFile>,
}

impl Pki {
    /// Write every PEM into `dir` (created if missing). Keys are mode 0600.
    pub fn write_to(&self, dir: &Path) -> Result<PkiFiles, TlsError> {
        fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;
        let mut w = Writer { dir, written: Vec::new() };
        let ca_cert = w.file("ca.crt", "ca certificate", false, &self.ca.cert_pem)?;
        // The CA key is written so a person can issue more certs by hand; it dies with the run dir.
        w.file("ca.key", "ca key", true, &self.ca.key_pem)?;
        let (frontend_cert, frontend_key, frontend_bundle) = w.triple("frontend", &self.frontend)?;
        let (backend_cert, backend_key, backend_bundle) = w.triple("backend", &self.backend)?;
        let (client_cert, client_key, client_bundle) = match &self.client {
            Some(c) => {
                let (a, b, c) = w.triple("client", c)?;
                (Some(a), Some(b), Some(c))
            }
            None => (None, None, None),
        };
        Ok(PkiFiles {
            dir: dir.to_path_buf(),
            ca_cert,
            frontend_cert,
            frontend_key,
            frontend_bundle,
            backend_cert,
            backend_key,
            backend_bundle,
            client_cert,
            client_key,
            client_bundle,
            written: w.written,
        })
    }
}

struct Writer<'a> {
    dir: &'a Path,
    written: Vec<WrittenFile>,
}

impl Writer<'_> {
    fn triple(&mut self, name: &str, c: &IssuedCert) -> Result<(PathBuf, PathBuf, PathBuf), TlsError> {
        let cert = self.file(&format!("{name}.crt"), &format!("{name} certificate"), false, &c.cert_pem)?;
        let key = self.file(&format!("{name}.key"), &format!("{name} key"), true, &c.key_pem)?;
        let bundle_text = format!("{}{}", c.cert_pem, c.key_pem);
        let bundle =
            self.file(&format!("{name}.pem"), &format!("{name} certificate+key bundle"), true, &bundle_text)?;
        Ok((cert, key, bundle))
    }

    fn file(&mut self, name: &str, role: &str, secret: bool, text: &str) -> Result<PathBuf, TlsError> {
        let path = self.dir.join(name);
        let mode = if secret { 0o600 } else { 0o644 };
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&path)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().map_err(|source| TlsError::Write { path: path.clone(), source })?;
        self.written.push(WrittenFile { role: role.to_string(), path: path.clone(), secret });
        Ok(path)
    }
}
