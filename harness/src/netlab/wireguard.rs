//! The WireGuard hop: the router VM's kernel WireGuard against userspace boringtun in the
//! hub namespace (the host kernel has no WireGuard). Keys are generated per run with `wg`.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::ledger::LedgerEntry;
use super::{Lab, LabError, ADDR};

#[derive(Debug, Clone)]
pub struct WgKeys {
    pub private: String,
    pub public: String,
}

/// A fresh key pair from `wg genkey` / `wg pubkey`.
pub fn keypair() -> Result<WgKeys, LabError> {
    let wg = |args: &[&str], input: Option<&str>| -> Result<String, LabError> {
        let mut child = Command::new("wg")
            .args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn { program: "wg (wireguard-tools)".into(), source })?;
        if let Some(i) = input {
            let _ = child.stdin.take().expect("piped").write_all(i.as_bytes());
        }
        let out = child.wait_with_output().map_err(|source| LabError::Spawn { program: "wg".into(), source })?;
        if !out.status.success() {
            return Err(LabError::Command {
                host: "host".into(),
                command: format!("wg {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).into(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let private = wg(&["genkey"], None)?;
    let public = wg(&["pubkey"], Some(&private))?;
    Ok(WgKeys { private, public })
}

/// Both ends of one run's tunnel.
#[derive(Debug, Clone)]
pub struct WgPlan {
    pub router: WgKeys,
    pub hub: WgKeys,
    /// The hub's interface: prefixed, because boringtun's control socket
    /// (`/var/run/wireguard/<if>.sock`) is not namespaced.
    pub hub_ifname: String,
    pub port: u16,
}

impl WgPlan {
    pub fn new(lab: &Lab) -> Result<WgPlan, LabError> {
        Ok(WgPlan { router: keypair()?, hub: keypair()?, hub_ifname: format!("{}wg", lab.prefix), port: 51820 })
    }
}

/// `$ROUTERLAB_BORINGTUN`, else `boringtun-cli` on PATH, else `~/.cargo/bin/boringtun-cli`.
pub fn boringtun_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROUTERLAB_BORINGTUN") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("boringtun-cli")).find(|c| c.is_file()));
    on_path.or_else(|| {
        let c = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/boringtun-cli");
        c.is_file().then_some(c)
    })
}

/// Start boringtun in the hub namespace and configure its end of the tunnel.
pub async fn start_hub(lab: &mut Lab, plan: &WgPlan) -> Result<(), LabError> {
    let bt = boringtun_path().ok_or_else(|| LabError::Options {
        detail: "boringtun-cli not found (cargo install boringtun-cli; ci/setup does it)".into(),
    })?;
    let ifname = plan.hub_ifname.clone();
    lab.note(LedgerEntry::File { path: PathBuf::from(format!("/var/run/wireguard/{ifname}.sock")) })?;
    let log = lab.run_dir.join("hub.boringtun.log");
    let args = vec![
        "--disable-drop-privileges".to_string(),
        "-f".into(),
        "-l".into(),
        log.display().to_string(),
        ifname.clone(),
    ];
    lab.spawn("hub", "boringtun", &bt, &args, None)?;
    let up = async || Ok::<_, LabError>(lab.exec_any("hub", "ip", &["link", "show", &ifname])?.status.success());
    if !crate::wait::poll_until(Duration::from_secs(10), Duration::from_millis(20), up).await? {
        return Err(LabError::Command {
            host: "hub".into(),
            command: "boringtun-cli".into(),
            stderr: std::fs::read_to_string(&log).unwrap_or_default(),
        });
    }
    let key = lab.run_dir.join("hub.wg.key");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)
            .map_err(|e| LabError::Ledger { path: key.clone(), detail: e.to_string() })?;
        let _ = writeln!(f, "{}", plan.hub.private);
    }
    let allowed = format!("{}/32,{}/128", ADDR::ROUTER_TUN4, ADDR::ROUTER_TUN6);
    lab.exec(
        "hub",
        "wg",
        &[
            "set",
            &ifname,
            "private-key",
            key.to_str().unwrap_or_default(),
            "listen-port",
            &plan.port.to_string(),
            "peer",
            &plan.router.public,
            "allowed-ips",
            &allowed,
        ],
    )?;
    lab.exec("hub", "ip", &["addr", "add", &format!("{}/30", ADDR::HUB_TUN4), "dev", &ifname])?;
    lab.exec("hub", "ip", &["addr", "add", &format!("{}/64", ADDR::HUB_TUN6), "dev", &ifname, "nodad"])?;
    lab.exec("hub", "ip", &["link", "set", &ifname, "up"])?;
    Ok(())
}
