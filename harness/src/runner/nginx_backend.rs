//! The real nginx backend (Debian's amd64 build) in the backend namespace: TLS, realip from
//! the trusted proxy (X-Forwarded-For or PROXY protocol), and an access log in routerlab's
//! JSON record format, so the config a user would deploy is the one that is judged.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::netlab::{Lab, LabError, ADDR};
use crate::scenario::{ClientIpHeaderMode, Plan, ProxyKind, ProxyMode};

/// nginx from Debian's package, unpacked into the cache (the host's services are untouched:
/// installing the package would start an nginx on the host).
pub(crate) fn ensure_nginx(cache: &Path) -> Result<PathBuf, String> {
    let root = cache.join("host-nginx");
    let bin = root.join("usr/sbin/nginx");
    if bin.is_file() {
        return Ok(bin);
    }
    let debs = root.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| e.to_string())?;
    let out = Command::new("apt-get")
        .args(["download", "-q", "nginx"])
        .current_dir(&debs)
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() {
        return Err(format!("apt-get download nginx: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    for e in std::fs::read_dir(&debs).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        let st = Command::new("dpkg-deb").arg("-x").arg(&p).arg(&root).status().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("dpkg-deb -x {}", p.display()));
        }
    }
    bin.is_file().then_some(bin).ok_or_else(|| "the nginx package has no /usr/sbin/nginx".into())
}

/// The backend nginx.conf for this plan. Errors say which combination nginx cannot judge.
pub(crate) fn backend_conf(plan: &Plan, pki: &Path, dir: &Path) -> Result<String, String> {
    let p = |f: &str| pki.join(f).display().to_string();
    let (cert, key) = match plan.proxy.mode {
        Some(ProxyMode::TerminateReencrypt) => (p("backend.crt"), p("backend.key")),
        Some(ProxyMode::TerminatePlain) => {
            return Err("the nginx backend is TLS-only here; use terminate-reencrypt".into())
        }
        _ => (p("frontend.crt"), p("frontend.key")),
    };
    let l4 = plan.proxy.kind == ProxyKind::L4Forward;
    let (listen_opt, realip, source) = match plan.proxy.client_ip_header {
        _ if l4 => ("", String::new(), "peer"),
        Some(ClientIpHeaderMode::XffAppend | ClientIpHeaderMode::XffReplace) => {
            ("", "real_ip_header X-Forwarded-For;\n        real_ip_recursive on;".to_string(), "xff")
        }
        Some(ClientIpHeaderMode::ProxyV1 | ClientIpHeaderMode::ProxyV2) => {
            (" proxy_protocol", "real_ip_header proxy_protocol;".to_string(), "proxy-protocol")
        }
        Some(ClientIpHeaderMode::Forwarded) => {
            return Err("nginx's realip module does not read Forwarded; use the routerlab backend".into())
        }
        None => ("", String::new(), "peer"),
    };
    let trusted: String = if l4 {
        String::new()
    } else {
        plan.trusted.nets().iter().map(|n| format!("        set_real_ip_from {n};\n")).collect()
    };
    let proxy_addr = if source == "proxy-protocol" { "\"$proxy_protocol_addr\"" } else { "null" };
    let d = dir.display();
    Ok(format!(
        r#"# The real nginx backend, as routerlab ran it: TLS, realip from the trusted proxy only,
# and an access log in routerlab's JSON record format.
worker_processes 1;
pid {d}/nginx-backend.pid;
error_log {d}/nginx-backend.err warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {d}/nginx-tmp;
    proxy_temp_path {d}/nginx-tmp;
    fastcgi_temp_path {d}/nginx-tmp;
    uwsgi_temp_path {d}/nginx-tmp;
    scgi_temp_path {d}/nginx-tmp;
    log_format routerlab escape=json '{{"time":"$time_iso8601","peer_addr":"$realip_remote_addr","proxy_addr":{proxy_addr},'
        '"xff":"$http_x_forwarded_for","forwarded":"$http_forwarded","client_ip":"$remote_addr","client_ip_source":"{source}",'
        '"request_id":"$http_x_request_id","method":"$request_method","path":"$request_uri","protocol":"$server_protocol",'
        '"status":$status,"bytes":$body_bytes_sent,"duration_us":null,"tls_version":"$ssl_protocol","tls_cipher":"$ssl_cipher",'
        '"user_agent":"$http_user_agent"}}';
    log_format main '$http_x_forwarded_for - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
    server {{
        listen {b4}:443 ssl{listen_opt};
        listen [{b6}]:443 ssl{listen_opt};
        ssl_certificate {cert};
        ssl_certificate_key {key};
{trusted}        {realip}
        access_log {d}/access.log routerlab;
        # What many deployments log: the client-supplied header first. Kept so the report
        # can show whether it would record a forged address.
        access_log {d}/access-main.log main;
        location / {{ return 200 "ok\n"; }}
    }}
}}
"#,
        b4 = ADDR::BACKEND4,
        b6 = ADDR::BACKEND6,
    ))
}

/// Start nginx in the backend namespace and wait for its listener.
pub(crate) fn start(lab: &mut Lab, bin: &Path, conf: &Path, dir: &Path) -> Result<(), LabError> {
    let _ = std::fs::create_dir_all(dir.join("nginx-tmp"));
    let args = vec![
        "-c".to_string(),
        conf.display().to_string(),
        "-e".into(),
        dir.join("nginx-backend.err").display().to_string(),
    ];
    lab.spawn("backend", "nginx", bin, &args, None)?;
    let t0 = Instant::now();
    loop {
        let tcp = lab.exec_any("backend", "cat", &["/proc/net/tcp", "/proc/net/tcp6"])?;
        let listening = String::from_utf8_lossy(&tcp.stdout)
            .lines()
            .filter(|l| l.contains(":01BB ") && l.split_whitespace().nth(3) == Some("0A"))
            .count();
        if listening >= 2 {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(LabError::Command {
                host: "backend".into(),
                command: "nginx".into(),
                stderr: std::fs::read_to_string(dir.join("nginx-backend.err")).unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
