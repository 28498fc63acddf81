//! Which shipped proxy template (`scenarios/templates/`) a proxy kind and mode use.
use crate::scenario::{ProxyKind, ProxyMode};

/// The template file for a proxy kind and mode.
pub fn template_name(kind: ProxyKind, mode: ProxyMode) -> Option<&'static str> {
    match (kind, mode) {
        (ProxyKind::Haproxy, ProxyMode::TerminateReencrypt) => Some("haproxy-terminate-reencrypt.cfg"),
        (ProxyKind::Haproxy, ProxyMode::TerminatePlain) => Some("haproxy-terminate-plain.cfg"),
        (ProxyKind::Haproxy, ProxyMode::PassthroughProxyProtocol) => Some("haproxy-passthrough-proxy-protocol.cfg"),
        (ProxyKind::Nginx, ProxyMode::TerminateReencrypt) => Some("nginx-terminate-reencrypt.conf"),
        (ProxyKind::Nginx, ProxyMode::PassthroughProxyProtocol) => Some("nginx-passthrough-proxy-protocol.conf"),
        _ => None,
    }
}
