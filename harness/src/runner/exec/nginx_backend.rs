//! The real nginx backend (Debian's amd64 build) in the backend namespace: TLS, realip from
//! the trusted proxy (X-Forwarded-For or PROXY protocol), and an access log in routerlab's
//! JSON record format, so the config a user would deploy is the one that is judged.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::stage::StageError;
use crate::netlab::{Lab, LabError, ADDR};
use crate::scenario::{ClientIpHeaderMode, Plan, ProxyKind, ProxyMode};

/// nginx from Debian's package, unpacked into the cache (the host's services are untouched:
/// installing the package would start an nginx on the host).
pub(crate) fn ensure_nginx(cache: &Path) -> Result<PathBuf, StageError> {
    let root = cache.join("host-nginx");
    let bin = root.join("usr/sbin/nginx");
    if bin.is_file() {
        return Ok(bin);
    }
    let debs = root.join("debs");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StageError::Io { path: path.clone(), source }
    };
    std::fs::create_dir_all(&debs).map_err(io(&debs))?;
    crate::image::run_command(Command::new("apt-get").args(["download", "-q", "nginx"]).current_dir(&debs))?;
    for e in std::fs::read_dir(&debs).map_err(io(&debs))? {
        let p = e.map_err(io(&debs))?.path();
        crate::image::run_command(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&root))?;
    }
    if !bin.is_file() {
        return Err(StageError::NotInBuild("usr/sbin/nginx".into()));
    }
    Ok(bin)
}

const NGINX_BACKEND_CONF: &str = include_str!("../../../../scenarios/templates/backend/nginx-backend.conf");

/// The backend nginx.conf for this plan (`scenarios/templates/backend/nginx-backend.conf`). Errors say which combination nginx cannot judge.
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
    let mut vars = ADDR::template_vars();
    vars.extend([
        ("dir", dir.display().to_string()),
        ("proxy_addr", proxy_addr.to_string()),
        ("source", source.to_string()),
        ("listen_opt", listen_opt.to_string()),
        ("cert", cert),
        ("key", key),
        ("trusted", trusted),
        ("realip", realip),
    ]);
    crate::template::render("backend/nginx-backend.conf", NGINX_BACKEND_CONF, &vars).map_err(|e| e.to_string())
}

/// Start nginx in the backend namespace and wait for its listener.
pub(crate) async fn start(lab: &mut Lab, bin: &Path, conf: &Path, dir: &Path) -> Result<(), LabError> {
    let _ = std::fs::create_dir_all(dir.join("nginx-tmp"));
    let args = vec![
        "-c".to_string(),
        conf.display().to_string(),
        "-e".into(),
        dir.join("nginx-backend.err").display().to_string(),
    ];
    lab.spawn("backend", "nginx", bin, &args, None)?;
    let both = async || {
        let tcp = lab.exec_any("backend", "cat", &["/proc/net/tcp", "/proc/net/tcp6"])?;
        let listening = String::from_utf8_lossy(&tcp.stdout)
            .lines()
            .filter(|l| l.contains(":01BB ") && l.split_whitespace().nth(3) == Some("0A"))
            .count();
        Ok::<_, LabError>(listening >= 2)
    };
    if !crate::wait::poll_until(Duration::from_secs(10), Duration::from_millis(50), both).await? {
        return Err(LabError::Command {
            host: "backend".into(),
            command: "nginx".into(),
            stderr: std::fs::read_to_string(dir.join("nginx-backend.err")).unwrap_or_default(),
        });
    }
    Ok(())
}
