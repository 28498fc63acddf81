//! What each proxy kind can do (its `scenarios/kinds/<kind>.toml`), checked against a
//! scenario before anything boots: a combination the proxy cannot do is refused with the
//! file, line, field and the reason, instead of failing every request at run time.
use super::ctx::Ctx;
use super::raw::RawScenario;
use super::{kebab, LoadPlan, ProxyMode, ProxyPlan, ScenarioError};

/// Refuse what `proxy` cannot do under `load`. Builds with a config of their own are held
/// only to what the software can do (its client-ip headers), not to the shipped templates.
/// A kind that lists no headers (l4-forward, custom) is held to the scenario's rules only.
pub(crate) fn check(c: &Ctx<'_>, raw: &RawScenario, proxy: &ProxyPlan, load: &LoadPlan) -> Result<(), ScenarioError> {
    let caps = crate::scenario::kinds::facts(proxy.kind);
    let kind = kebab(&proxy.kind);
    let (Some(mode), Some(header)) = (proxy.mode, proxy.client_ip_header) else { return Ok(()) };
    if caps.client_ip_header.is_empty() {
        return Ok(());
    }
    let shipped = proxy.builds.iter().all(|b| b.config.is_none());
    if !caps.client_ip_header.contains(&header) {
        let header = kebab(&header);
        let span = raw.proxy.client_ip_header.as_ref().map(|h| h.span()).unwrap_or_else(|| raw.proxy.kind.span());
        let why = caps.why_not.get(&proxy.client_ip_header.expect("matched")).cloned();
        let why = why.unwrap_or_else(|| format!("{kind} cannot send {header}"));
        return c.err(span, "proxy.client-ip-header", format!("{kind} cannot send {header}: {why}"));
    }
    if shipped && caps.template(mode).is_none() {
        let span = raw.proxy.mode.as_ref().map(|m| m.span()).unwrap_or_else(|| raw.proxy.kind.span());
        let have = caps.templates.keys().map(kebab).collect::<Vec<_>>().join(", ");
        let mode_name = kebab(&mode);
        return c.err(span, "proxy.mode", format!("routerlab ships no {kind} template for {mode_name} (it has {have}); give a [[proxy.build]] a config of its own"));
    }
    let terminating = mode != ProxyMode::PassthroughProxyProtocol;
    if shipped && terminating && load.http2 && !caps.http2 {
        let span = raw.load.http.as_ref().map(|h| h.span()).unwrap_or_else(|| raw.proxy.kind.span());
        return c.err(span, "load.http", caps.why_no_http2.clone().unwrap_or_default());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `check`'s answer for a scenario with this `[proxy]` body and `[load]` body.
    fn check_text(proxy: &str, load: &str) -> Result<(), String> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.toml");
        let text = format!(
            "name = \"x\"\ntargets = [\"aarch64-virt\"]\n[proxy]\n{proxy}\n[load]\n{load}\n[expect]\nclient-ip = \"preserved\"\n"
        );
        std::fs::write(&p, text).unwrap();
        std::fs::write(d.path().join("own.conf"), "# a config of its own\n").unwrap();
        crate::scenario::load_plan(&p).map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn each_impossible_combination_is_refused_with_its_place_and_reason() {
        // nginx cannot send PROXY v2: the client-ip-header's line and column.
        let e =
            check_text("kind = \"nginx\"\nmode = \"passthrough-proxy-protocol\"\nclient-ip-header = \"proxy-v2\"", "")
                .unwrap_err();
        assert!(e.contains("s.toml:6:20: proxy.client-ip-header: nginx cannot send proxy-v2"), "{e}");
        assert!(e.contains("sends only PROXY v1"), "{e}");
        // No shipped nginx template terminates to plain HTTP: the mode's place.
        let e = check_text("kind = \"nginx\"\nmode = \"terminate-plain\"\nclient-ip-header = \"xff-append\"", "")
            .unwrap_err();
        assert!(e.contains("s.toml:5:8: proxy.mode: routerlab ships no nginx template for terminate-plain"), "{e}");
        // HTTP/2 to a terminating HAProxy whose template offers none: the load's place.
        let e = check_text(
            "kind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"",
            "http = \"2\"",
        )
        .unwrap_err();
        assert!(e.contains("s.toml:8:8: load.http: the shipped HAProxy templates offer clients no HTTP/2"), "{e}");
    }

    #[test]
    fn what_a_proxy_can_do_is_accepted() {
        let ok = |proxy: &str, load: &str| check_text(proxy, load).unwrap_or_else(|e| panic!("{proxy}: {e}"));
        ok("kind = \"nginx\"\nmode = \"passthrough-proxy-protocol\"\nclient-ip-header = \"proxy-v1\"", "");
        ok("kind = \"haproxy\"\nmode = \"passthrough-proxy-protocol\"\nclient-ip-header = \"proxy-v2\"", "");
        // HTTP/2 passes through a proxy that does not open TLS.
        ok(
            "kind = \"haproxy\"\nmode = \"passthrough-proxy-protocol\"\nclient-ip-header = \"proxy-v1\"",
            "http = \"2\"",
        );
        // A build with a config of its own may run a mode no template covers...
        let build = "[[proxy.build]]\nname = \"own\"\nconfig = \"own.conf\"";
        let mode = "kind = \"nginx\"\nmode = \"terminate-plain\"\nclient-ip-header = \"xff-append\"";
        ok(&format!("{mode}\n{build}"), "");
        // ...but not make nginx send what it cannot.
        let v2 = "kind = \"nginx\"\nmode = \"passthrough-proxy-protocol\"\nclient-ip-header = \"proxy-v2\"";
        assert!(check_text(&format!("{v2}\n{build}"), "").unwrap_err().contains("nginx cannot send proxy-v2"));
    }
}
