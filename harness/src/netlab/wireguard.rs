//! The WireGuard hop: the router VM's kernel WireGuard against userspace boringtun in the
//! hub namespace (the host kernel has no WireGuard). Keys are generated per run with `wg`.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
pub fn start_hub(lab: &mut Lab, plan: &WgPlan) -> Result<(), LabError> {
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
    let t0 = Instant::now();
    while !lab.exec_any("hub", "ip", &["link", "show", &ifname])?.status.success() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(LabError::Command {
                host: "hub".into(),
                command: "boringtun-cli".into(),
                stderr: std::fs::read_to_string(&log).unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
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
    lab.exec("hub", "ip", &["addr", "add", "10.1.0.2/30", "dev", &ifname])?;
    lab.exec("hub", "ip", &["addr", "add", "fd00:1::2/64", "dev", &ifname, "nodad"])?;
    lab.exec("hub", "ip", &["link", "set", &ifname, "up"])?;
    Ok(())
}

/// Console commands for the router VM: name its NICs by MAC after the topology (`wan0`,
/// `tun0`), address them, reach the hub through `wg0` (with `wg`) or over `tun0` itself (a
/// routed link, `None`), route the backend network there and masquerade into it (IPv4 and
/// IPv6), as a home router does. Each stays under the console's line limit.
pub fn router_guest_commands(wg: Option<&WgPlan>, wan_mac: &str, tun_mac: &str) -> Vec<String> {
    let rename = |mac: &str, name: &str| {
        format!("for i in /sys/class/net/*; do [ \"$(cat $i/address)\" = {mac} ] && ip link set dev ${{i##*/}} name {name}; done; ip link set {name} up")
    };
    let mut c = vec![
        rename(wan_mac, "wan0"),
        rename(tun_mac, "tun0"),
        "ip addr add 192.0.2.1/24 dev wan0 && ip addr add 2001:db8:1::1/64 dev wan0 nodad && ip route replace default via 192.0.2.254 && ip route replace default via 2001:db8:1::fe".into(),
    ];
    let tunnel = match wg {
        Some(plan) => {
            c.push("ip addr add 10.9.0.1/30 dev tun0 && ip addr add fd00:9::1/64 dev tun0 nodad".into());
            c.push(format!("umask 077; echo {} > /tmp/wg.key; ip link add wg0 type wireguard", plan.router.private));
            c.push(format!(
                "wg set wg0 private-key /tmp/wg.key listen-port {} peer {} endpoint 10.9.0.2:{} allowed-ips 10.1.0.2/32,10.2.0.0/24,fd00:1::2/128,fd00:2::/64 persistent-keepalive 5",
                plan.port, plan.hub.public, plan.port
            ));
            c.push("ip addr add 10.1.0.1/30 dev wg0 && ip addr add fd00:1::1/64 dev wg0 nodad && ip link set wg0 up && ip route add 10.2.0.0/24 dev wg0 && ip route add fd00:2::/64 dev wg0".into());
            "wg0"
        }
        None => {
            c.push("ip addr add 10.1.0.1/30 dev tun0 && ip addr add fd00:1::1/64 dev tun0 nodad".into());
            c.push("ip route add 10.2.0.0/24 via 10.1.0.2 && ip route add fd00:2::/64 via fd00:1::2".into());
            "tun0"
        }
    };
    c.push("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1".into());
    for fam in ["ip", "ip6"] {
        c.push(format!(
            "nft add table {fam} rl && nft 'add chain {fam} rl post {{ type nat hook postrouting priority srcnat; }}' && nft add rule {fam} rl post oifname {tunnel} masquerade"
        ));
    }
    c
}
