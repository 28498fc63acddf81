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
#[serde(rename_all = "kebab-case")]
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
        match s {
            "json" => Ok(LogFormat::Json),
            "combined" => Ok(LogFormat::Combined),
            "main" => Ok(LogFormat::Main),
            other => Err(super::LogError::UnknownFormat(other.to_string())),
        }
    }
}
