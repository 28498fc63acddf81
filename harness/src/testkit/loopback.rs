//! Loopback fixtures for the integration tests: a per-test PKI and a backend with its logs.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{Backend, BackendConfig};
use crate::load::{LoadConfig, Mode, Stop, Url};
use crate::netaddr::SourcePool;
use crate::tls::{CertSpec, ClientTrust, KeyType, Pki, PkiFiles, PkiRequest};

pub fn pki(dir: &Path, key_type: KeyType) -> PkiFiles {
    let req = PkiRequest {
        key_type,
        frontend: CertSpec {
            dns: vec!["router.test".into()],
            ips: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        },
        backend: CertSpec { dns: vec!["backend.test".into()], ips: vec!["127.0.0.1".parse().unwrap()] },
        client: true,
    };
    Pki::generate(&req).unwrap().write_to(&dir.join("pki")).unwrap()
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub pki: PkiFiles,
    pub access_log: PathBuf,
    pub reject_log: PathBuf,
}

impl Default for Lab {
    fn default() -> Lab {
        Lab::new()
    }
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki(dir.path(), KeyType::EcdsaP256);
        let access_log = dir.path().join("access.log");
        let reject_log = dir.path().join("rejects.log");
        Lab { dir, pki, access_log, reject_log }
    }

    pub fn backend_config(&self, listen: &str) -> BackendConfig {
        let mut c = BackendConfig::new(vec![listen.parse().unwrap()], self.access_log.clone());
        c.tls_cert = Some(self.pki.frontend_cert.clone());
        c.tls_key = Some(self.pki.frontend_key.clone());
        c.reject_log = Some(self.reject_log.clone());
        c
    }

    pub async fn backend(&self, listen: &str) -> Backend {
        Backend::start(&self.backend_config(listen)).await.unwrap()
    }

    pub fn load_config(&self, url: &str, sources: &[&str], requests: u64) -> LoadConfig {
        let mut c =
            LoadConfig::new(Url::parse(url).unwrap(), Mode::Closed { connections: 4 }, Stop::Requests(requests));
        c.sources = SourcePool::new(&sources.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>()).unwrap();
        c.trust = ClientTrust::Ca(self.pki.ca_cert.clone());
        c.journal = Some(self.dir.path().join("journal.tsv"));
        c.timeout = Duration::from_secs(10);
        c
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.tsv")
    }

    pub fn records(&self) -> Vec<crate::accesslog::AccessRecord> {
        crate::accesslog::read_log(&self.access_log, crate::accesslog::LogFormat::Json)
            .map(|r| r.collect::<Result<Vec<_>, _>>().unwrap())
            .unwrap_or_default()
    }

    pub fn rejects(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.reject_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
