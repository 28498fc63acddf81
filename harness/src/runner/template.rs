//! Proxy configuration templates (`scenarios/templates/`), rendered with `{{name}}` fields.
use std::collections::BTreeMap;

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

/// Replace every `{{name}}`; a name without a value is an error, so nothing renders half-filled.
pub fn render(text: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or("unclosed {{")?;
        let name = after[..j].trim();
        out.push_str(vars.get(name).ok_or_else(|| format!("template field {{{{{name}}}}} has no value"))?);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_refuses_unknown_fields() {
        let vars = BTreeMap::from([("a", "1".to_string()), ("b", "two".to_string())]);
        assert_eq!(render("x {{a}} y {{ b }}", &vars).unwrap(), "x 1 y two");
        assert_eq!(render("{{c}}", &vars).unwrap_err(), "template field {{c}} has no value");
    }

    #[test]
    fn every_shipped_template_renders_with_the_runner_fields() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/templates");
        let vars: BTreeMap<&str, String> = [
            "frontend_bundle",
            "frontend_cert",
            "frontend_key",
            "ca_file",
            "backend_addr",
            "backend_name",
            "client_ip_directive",
            "send_proxy",
        ]
        .into_iter()
        .map(|k| (k, format!("<{k}>")))
        .collect();
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let out = render(&text, &vars).unwrap();
            assert!(!out.contains("{{"));
        }
    }
}
