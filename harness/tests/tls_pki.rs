//! The generated PKI verifies with rustls/webpki for exactly the names requested, for
//! every key type; bundles hold certificate and key.

use std::sync::Arc;

use harness::tls::{load_certs, load_key, KeyType};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::RootCertStore;
use rustls_pki_types::{ServerName, UnixTime};

fn verifier(ca: &std::path::Path) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap()
}

#[test]
fn chains_verify_for_requested_names_only() {
    for kt in KeyType::ALL {
        let dir = tempfile::tempdir().unwrap();
        let files = harness::testkit::pki(dir.path(), kt);
        let v = verifier(&files.ca_cert);
        let leaf = load_certs(&files.frontend_cert).unwrap().remove(0);
        let check = |name: &str| {
            v.verify_server_cert(&leaf, &[], &ServerName::try_from(name.to_string()).unwrap(), &[], UnixTime::now())
        };
        assert!(check("router.test").is_ok(), "{kt}: DNS SAN");
        assert!(check("127.0.0.1").is_ok(), "{kt}: IPv4 SAN");
        assert!(check("::1").is_ok(), "{kt}: IPv6 SAN");
        assert!(check("other.test").is_err(), "{kt}: a name not requested must fail");
        assert!(check("192.0.2.99").is_err(), "{kt}: an IP not requested must fail");
        let backend = load_certs(&files.backend_cert).unwrap().remove(0);
        assert!(v
            .verify_server_cert(&backend, &[], &ServerName::try_from("backend.test").unwrap(), &[], UnixTime::now())
            .is_ok());
        // A different run's CA does not trust this run's certificates.
        let other = tempfile::tempdir().unwrap();
        let other_files = harness::testkit::pki(other.path(), kt);
        assert!(verifier(&other_files.ca_cert)
            .verify_server_cert(&leaf, &[], &ServerName::try_from("router.test").unwrap(), &[], UnixTime::now())
            .is_err());
    }
}

#[test]
fn haproxy_bundle_holds_certificate_and_key_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let files = harness::testkit::pki(dir.path(), KeyType::Rsa2048);
    let text = std::fs::read_to_string(&files.frontend_bundle).unwrap();
    assert!(text.contains("BEGIN CERTIFICATE") && text.contains("BEGIN PRIVATE KEY"));
    assert_eq!(load_certs(&files.frontend_bundle).unwrap(), load_certs(&files.frontend_cert).unwrap());
    assert_eq!(
        load_key(&files.frontend_bundle).unwrap().secret_der(),
        load_key(&files.frontend_key).unwrap().secret_der()
    );
    for f in files.written.iter().filter(|f| f.secret) {
        assert_eq!(std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.path.display());
    }
    // A server config builds from the bundle alone (as HAProxy's `crt` uses it).
    harness::tls::server_config(&files.frontend_bundle, &files.frontend_bundle, &[b"h2"]).unwrap();
    assert!(files.client_bundle.is_some());
}

#[test]
fn key_types_differ_and_parse_by_name() {
    use rustls::SignatureAlgorithm as A;
    let mut algorithms = Vec::new();
    for kt in KeyType::ALL {
        assert_eq!(kt.as_str().parse::<KeyType>().unwrap(), kt);
        // The key written is of the type asked for, as the TLS stack sees it.
        let dir = tempfile::tempdir().unwrap();
        let files = harness::testkit::pki(dir.path(), kt);
        let key = load_key(&files.frontend_key).unwrap();
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).unwrap();
        let want = match kt {
            KeyType::EcdsaP256 => A::ECDSA,
            KeyType::Rsa2048 => A::RSA,
            KeyType::Ed25519 => A::ED25519,
        };
        assert_eq!(signer.algorithm(), want, "{kt}");
        algorithms.push(signer.algorithm());
    }
    algorithms.dedup();
    assert_eq!(algorithms.len(), KeyType::ALL.len(), "{algorithms:?}");
    assert_eq!(
        "rsa-4096".parse::<KeyType>().unwrap_err().to_string(),
        "unknown key type \"rsa-4096\" (expected ecdsa-p256, rsa-2048 or ed25519)"
    );
}

#[test]
fn missing_and_empty_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let e = load_certs(&missing).unwrap_err().to_string();
    assert!(e.starts_with("cannot read certificate ") && e.contains("nope.pem"), "{e}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "hello\n").unwrap();
    assert!(load_certs(&empty).unwrap_err().to_string().starts_with("no certificate found in"));
    assert!(load_key(&empty).unwrap_err().to_string().starts_with("no private key found in"));
}
