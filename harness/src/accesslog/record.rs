use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use crate::forwarded::ClientIpSource;
use crate::netaddr::Endpoint;

/// One request, as routerlab's backend logs it and as read back from any supported log.
/// Fields a format does not carry are `None`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccessRecord {
    pub time: DateTime<FixedOffset>,
    /// The TCP peer (for routerlab's backend) or `$remote_addr` (nginx `combined`).
    #[serde(default)]
    pub peer_addr: Option<Endpoint>,
    /// Source address from a PROXY protocol header.
    #[serde(default)]
    pub proxy_addr: Option<Endpoint>,
    /// Raw X-Forwarded-For (multiple headers joined with ", ").
    #[serde(default)]
    pub xff: Option<String>,
    /// Raw RFC 7239 Forwarded (multiple headers joined with ", ").
    #[serde(default)]
    pub forwarded: Option<String>,
    /// The effective client IP; `None` when a log line names none (e.g. `main` with `-`).
    #[serde(default)]
    pub client_ip: Option<IpAddr>,
    #[serde(default)]
    pub client_ip_source: Option<ClientIpSource>,
    #[serde(default)]
    pub request_id: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub protocol: Option<String>,
    pub status: u16,
    pub bytes: u64,
    #[serde(default)]
    pub duration_us: Option<u64>,
    #[serde(default)]
    pub tls_version: Option<String>,
    #[serde(default)]
    pub tls_cipher: Option<String>,
    /// The backend's serial number for the connection that carried the request: requests
    /// with the same number shared a connection (nginx `$connection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// Whether that connection's TLS handshake resumed a session (nginx
    /// `$ssl_session_reused`, `r` or `.`); absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "resumed")]
    pub tls_resumed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A connection refused before any request: a PROXY-protocol violation or an untrusted sender.
/// Never carries a client IP: the header's claim is exactly what was not believed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RejectRecord {
    pub time: DateTime<FixedOffset>,
    pub peer_addr: Endpoint,
    pub listener: String,
    pub reason: String,
    pub detail: String,
}

/// Access-log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[derive(strum::IntoStaticStr, strum::VariantNames, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum LogFormat {
    /// routerlab's JSON lines.
    #[default]
    Json,
    /// nginx `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status ...`.
    Combined,
    /// The common `main` variant with `$http_x_forwarded_for` in place of `$remote_addr`.
    Main,
}

impl FromStr for LogFormat {
    type Err = super::LogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::from_name(s).ok_or_else(|| super::LogError::UnknownFormat(s.to_string()))
    }
}

/// `tls_resumed` as routerlab writes it (a boolean) or as nginx does (`r` resumed, `.`
/// not; empty without TLS).
fn resumed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    use serde::Deserialize;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Bool(b)) => Ok(Some(b)),
        Some(Raw::Text(t)) => match t.as_str() {
            "r" => Ok(Some(true)),
            "." => Ok(Some(false)),
            "" => Ok(None),
            other => Err(serde::de::Error::custom(format!("tls_resumed: {other:?} is not r, . or a boolean"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::AccessRecord;

    fn with(extra: &str) -> Result<AccessRecord, serde_json::Error> {
        serde_json::from_str(&format!(
            r#"{{"time":"2026-11-26T08:00:00+00:00","method":"GET","path":"/","status":200,"bytes":3{extra}}}"#
        ))
    }

    #[test]
    fn connection_and_resumption_read_from_routerlab_and_nginx_spellings() {
        assert_eq!(with("").unwrap().tls_resumed, None);
        let r = with(r#","conn":7,"tls_resumed":true"#).unwrap();
        assert_eq!((r.conn, r.tls_resumed), (Some(7), Some(true)));
        assert_eq!(with(r#","tls_resumed":"r""#).unwrap().tls_resumed, Some(true));
        assert_eq!(with(r#","tls_resumed":".""#).unwrap().tls_resumed, Some(false));
        assert_eq!(with(r#","tls_resumed":"""#).unwrap().tls_resumed, None);
        let e = with(r#","tls_resumed":"yes""#).unwrap_err().to_string();
        assert!(e.contains("tls_resumed: \"yes\""), "{e}");
    }
}
