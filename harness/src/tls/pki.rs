use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;

/// Key algorithm for every certificate of a run. Router CPUs differ a lot
/// between them: ECDSA is cheap to sign, RSA-2048 costs ~10x more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    EcdsaP256,
    Rsa2048,
    Ed25519,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [KeyType::EcdsaP256, KeyType::Rsa2048, KeyType::Ed25519];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Ed25519 => "ed25519",
        }
    }

    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    fn generate(self, cert: &'static str) -> Result<KeyPair, TlsError> {
        KeyPair::generate_for(self.algorithm()).map_err(|source| TlsError::Generate { cert, source })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = TlsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| TlsError::UnknownKeyType(s.to_string()))
    }
}

/// Names a leaf certificate is valid for.
#[derive(Debug, Clone, Default)]
pub struct CertSpec {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// What to generate for one run.
#[derive(Debug, Clone)]
pub struct PkiRequest {
    pub key_type: KeyType,
    /// The proxy's certificate, presented to clients (DNS name plus the router's WAN IPs).
    pub frontend: CertSpec,
    /// The backend's certificate, presented to the proxy when it re-encrypts.
    pub backend: CertSpec,
    /// A client certificate (for mTLS to the backend), on request.
    pub client: bool,
}

/// A certificate with its private key, both DER.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl IssuedCert {
    fn new(cert: rcgen::Certificate, key: &KeyPair) -> Self {
        IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert").field("cert_der_len", &self.cert_der.len()).finish_non_exhaustive()
    }
}

/// A per-run PKI. Nothing here is ever committed: it is generated fresh for each run.
#[derive(Debug)]
pub struct Pki {
    pub key_type: KeyType,
    pub ca: IssuedCert,
    pub frontend: IssuedCert,
    pub backend: IssuedCert,
    pub client: Option<IssuedCert>,
}

impl Pki {
    pub fn generate(req: &PkiRequest) -> Result<Pki, TlsError> {
        let ca_key = req.key_type.generate("ca")?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("routerlab per-run CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut ca_params);
        let ca_cert = ca_params.self_signed(&ca_key).map_err(|source| TlsError::Generate { cert: "ca", source })?;
        let ca = IssuedCert::new(ca_cert, &ca_key);
        let issuer = Issuer::new(ca_params, ca_key);

        let frontend = leaf("frontend", &req.frontend, req.key_type, &issuer, ExtendedKeyUsagePurpose::ServerAuth)?;
        let backend = leaf("backend", &req.backend, req.key_type, &issuer, ExtendedKeyUsagePurpose::ServerAuth)?;
        let client = if req.client {
            let spec = CertSpec { dns: vec!["routerlab-client".into()], ips: vec![] };
            Some(leaf("client", &spec, req.key_type, &issuer, ExtendedKeyUsagePurpose::ClientAuth)?)
        } else {
            None
        };
        Ok(Pki { key_type: req.key_type, ca, frontend, backend, client })
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "routerlab");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Valid from a day ago (guest clocks start late) for 30 days: long enough for any run,
/// short enough that a leaked file is worthless soon.
fn validity(params: &mut CertificateParams) {
    let now = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    params.not_before = now - std::time::Duration::from_secs(86_400);
    params.not_after = now + std::time::Duration::from_secs(30 * 86_400);
}

fn leaf(
    name: &'static str,
    spec: &CertSpec,
    key_type: KeyType,
    issuer: &Issuer<'_, KeyPair>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<IssuedCert, TlsError> {
    let key = key_type.generate(name)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(spec.dns.first().map(String::as_str).unwrap_or(name));
    for d in &spec.dns {
        let ia5 = d.as_str().try_into().map_err(|source| TlsError::BadName { cert: name, name: d.clone(), source })?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    params.subject_alt_names.extend(spec.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    let cert = params.signed_by(&key, issuer).map_err(|source| TlsError::Generate { cert: name, source })?;
    Ok(IssuedCert::new(cert, &key))
}
