//! The router's side: network configuration and the proxy under test, over the console.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::build::Installed;
use super::{render, template_name, RunError};
use crate::netlab::{router_guest_commands, WgPlan};
use crate::scenario::{BuildPlan, ClientIpHeaderMode, Plan, ProxyKind};
use crate::vm::Vm;

pub(crate) const WAN_MAC: &str = "52:54:00:00:01:01";
pub(crate) const TUN_MAC: &str = "52:54:00:00:01:02";
const CHUNK: usize = 600;

fn vm_err(target: &str, phase: &'static str) -> impl Fn(crate::vm::VmError) -> RunError {
    let target = target.to_string();
    move |source| RunError::Vm { target: target.clone(), phase, source }
}

/// Run guest commands that must succeed.
pub(crate) async fn must(vm: &mut Vm, target: &str, phase: &'static str, cmd: &str) -> Result<String, RunError> {
    let out = vm.exec(cmd).await.map_err(vm_err(target, phase))?;
    if out.status != 0 {
        return Err(RunError::Other {
            target: target.into(),
            phase,
            detail: format!("`{cmd}` exited {}: {}", out.status, out.stdout.trim()),
        });
    }
    Ok(out.stdout)
}

/// Put a small file into the guest over the console (base64 in chunks). Used for configs
/// and certificates; it needs no network, so it works before the router is configured.
pub(crate) async fn write_file(vm: &mut Vm, target: &str, path: &str, data: &[u8]) -> Result<(), RunError> {
    let b64 = base64(data);
    let tmp = format!("{path}.b64");
    must(vm, target, "upload", &format!("mkdir -p \"$(dirname {path})\" && : > {tmp}")).await?;
    for chunk in b64.as_bytes().chunks(CHUNK) {
        let chunk = std::str::from_utf8(chunk).expect("base64 is ascii");
        must(vm, target, "upload", &format!("printf %s '{chunk}' >> {tmp}")).await?;
    }
    let sum = must(vm, target, "upload", &format!("base64 -d {tmp} > {path} && rm {tmp} && sha256sum {path}")).await?;
    let want = crate::image::sha256_hex(data);
    if !sum.starts_with(&want) {
        return Err(RunError::Other {
            target: target.into(),
            phase: "upload",
            detail: format!("{path}: sha256 {sum:?} != {want}"),
        });
    }
    Ok(())
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Addresses, routes, the tunnel (WireGuard or routed) and NAT, as a home router has them.
pub(crate) async fn configure_router(vm: &mut Vm, target: &str, wg: Option<&WgPlan>) -> Result<(), RunError> {
    for c in router_guest_commands(wg, WAN_MAC, TUN_MAC) {
        must(vm, target, "router network", &c).await?;
    }
    Ok(())
}

/// Deploy what the plan asks for with the given build (`None` for l4-forward). Returns
/// the process name to watch (empty for l4-forward) and the rendered config.
pub(crate) async fn deploy_proxy(
    vm: &mut Vm,
    target: &str,
    plan: &Plan,
    build: Option<(&BuildPlan, &Installed)>,
    pki: &Path,
    templates: &Path,
) -> Result<(String, String), RunError> {
    let (kind, mode) = match (plan.proxy.kind, plan.proxy.mode) {
        (ProxyKind::L4Forward, _) => {
            let rules = "nft 'add chain ip rl pre { type nat hook prerouting priority dstnat; }' && nft add rule ip rl pre iifname wan0 tcp dport 443 dnat to 10.2.0.1:443 && \
                         nft 'add chain ip6 rl pre { type nat hook prerouting priority dstnat; }' && nft add rule ip6 rl pre iifname wan0 tcp dport 443 dnat to '[fd00:2::1]:443'";
            must(vm, target, "l4 forward", rules).await?;
            return Ok((String::new(), rules.replace(" && ", "\n")));
        }
        (k, Some(m)) => (k, m),
        (_, None) => {
            return Err(RunError::Other { target: target.into(), phase: "deploy", detail: "no proxy mode".into() })
        }
    };
    let (spec, inst) = build.ok_or_else(|| RunError::Other {
        target: target.into(),
        phase: "deploy",
        detail: "no proxy build".into(),
    })?;
    let template = match &spec.config {
        Some(p) => p.clone(),
        None => templates.join(template_name(kind, mode).ok_or_else(|| RunError::Other {
            target: target.into(),
            phase: "deploy",
            detail: format!("no template for {kind:?} {mode:?}"),
        })?),
    };
    let text = std::fs::read_to_string(&template).map_err(|e| RunError::Other {
        target: target.into(),
        phase: "deploy",
        detail: format!("{}: {e}", template.display()),
    })?;
    let header = plan.proxy.client_ip_header;
    let directive = match (kind, header) {
        (ProxyKind::Haproxy, Some(ClientIpHeaderMode::XffAppend)) => "option forwardfor".to_string(),
        (ProxyKind::Haproxy, Some(ClientIpHeaderMode::XffReplace)) => {
            "http-request set-header X-Forwarded-For %[src]".to_string()
        }
        (ProxyKind::Haproxy, Some(ClientIpHeaderMode::Forwarded)) => {
            "http-request set-header Forwarded for=\\\"%[src]\\\"".to_string()
        }
        (ProxyKind::Nginx, Some(ClientIpHeaderMode::XffAppend)) => {
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;".to_string()
        }
        (ProxyKind::Nginx, Some(ClientIpHeaderMode::XffReplace)) => {
            "proxy_set_header X-Forwarded-For $remote_addr;".to_string()
        }
        (ProxyKind::Nginx, Some(ClientIpHeaderMode::Forwarded)) => {
            "proxy_set_header Forwarded \"for=\\\"$remote_addr\\\"\";".to_string()
        }
        _ => String::new(),
    };
    let send_proxy = if header == Some(ClientIpHeaderMode::ProxyV1) { "send-proxy" } else { "send-proxy-v2" };
    let vars: BTreeMap<&str, String> = [
        ("frontend_bundle", "/etc/routerlab/pki/frontend.pem".to_string()),
        ("frontend_cert", "/etc/routerlab/pki/frontend.crt".to_string()),
        ("frontend_key", "/etc/routerlab/pki/frontend.key".to_string()),
        ("ca_file", "/etc/routerlab/pki/ca.crt".to_string()),
        ("backend_addr", "10.2.0.1".to_string()),
        ("backend_name", "backend.test".to_string()),
        ("client_ip_directive", directive),
        ("send_proxy", send_proxy.to_string()),
    ]
    .into_iter()
    .collect();
    let config =
        render(&text, &vars).map_err(|detail| RunError::Other { target: target.into(), phase: "render", detail })?;
    for f in ["frontend.pem", "frontend.crt", "frontend.key", "ca.crt"] {
        let data = std::fs::read(pki.join(f)).map_err(|e| RunError::Other {
            target: target.into(),
            phase: "upload",
            detail: e.to_string(),
        })?;
        write_file(vm, target, &format!("/etc/routerlab/pki/{f}"), &data).await?;
    }
    let (bin, env) = (&inst.bin, &inst.env);
    let (process, conf, start) = match kind {
        ProxyKind::Haproxy => ("haproxy".to_string(), "/etc/routerlab/haproxy.cfg", format!("if {env} {bin} -c -f /etc/routerlab/haproxy.cfg > /tmp/proxy.check 2>&1; then {env} {bin} -D -f /etc/routerlab/haproxy.cfg -p /tmp/haproxy.pid > /tmp/proxy.log 2>&1; else cat /tmp/proxy.check; false; fi")),
        ProxyKind::Nginx => ("nginx".to_string(), "/etc/routerlab/nginx.conf", format!("if {env} {bin} -t -c /etc/routerlab/nginx.conf > /tmp/proxy.check 2>&1; then {env} {bin} -c /etc/routerlab/nginx.conf > /tmp/proxy.log 2>&1; else cat /tmp/proxy.check; false; fi")),
        _ => {
            // custom: the build's own start command; it must daemonize or be backgrounded.
            let conf = "/etc/routerlab/custom.conf";
            let cmd = spec.start.clone().unwrap_or_default().replace("{bin}", bin).replace("{config}", conf);
            let process = spec.process.clone().unwrap_or_default();
            let start = format!("{env} {cmd} > /tmp/proxy.log 2>&1; s=$?; sleep 1; if [ $s -ne 0 ] || ! pidof {process} > /dev/null; then cat /tmp/proxy.log; false; fi");
            (process, conf, start)
        }
    };
    write_file(vm, target, conf, config.as_bytes()).await?;
    let out = vm.exec(&start).await.map_err(vm_err(target, "start proxy"))?;
    if out.status != 0 {
        return Err(RunError::Deploy {
            target: target.into(),
            proxy: process.clone(),
            message: first_error(&out.stdout),
        });
    }
    wait_listener(vm, target, &process, 443).await?;
    must(vm, target, "metrics", &format!("echo {process} > /tmp/routerlab-watch")).await?;
    Ok((process, config))
}

/// The proxy's own words: the first line that looks like an error, else the last line.
fn first_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .find(|l| l.contains("[ALERT]") || l.contains("emerg") || l.to_lowercase().contains("error"))
        .or(lines.last())
        .map(|l| l.to_string())
        .unwrap_or_else(|| "no output".into())
}

/// A guest shell test that holds while something listens on `port` (IPv4 or IPv6): a
/// /proc/net/tcp{,6} line with that local port in state 0A (LISTEN).
pub(crate) fn listening(port: u16) -> String {
    format!("grep -h ':{port:04X} ' /proc/net/tcp /proc/net/tcp6 | grep -q ' 0A '")
}

/// Wait until something listens on `port`.
async fn wait_listener(vm: &mut Vm, target: &str, process: &str, port: u16) -> Result<(), RunError> {
    let t0 = Instant::now();
    loop {
        let out = vm
            .exec(&format!("if {}; then echo yes; fi", listening(port)))
            .await
            .map_err(vm_err(target, "wait for listener"))?;
        if out.stdout.trim() == "yes" {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let log = vm.exec("cat /tmp/proxy.log 2>/dev/null | tail -5").await.map(|o| o.stdout).unwrap_or_default();
            return Err(RunError::Deploy {
                target: target.into(),
                proxy: process.into(),
                message: format!("nothing listens on port {port} after 20 s: {}", first_error(&log)),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn proxy_errors_are_found() {
        let t = "[NOTICE] something\n[ALERT]    (1) : config : parsing [/etc/x.cfg:12] : unknown keyword 'bogus'\nmore";
        assert!(super::first_error(t).contains("unknown keyword 'bogus'"));
        assert_eq!(super::first_error("only line"), "only line");
    }
}
