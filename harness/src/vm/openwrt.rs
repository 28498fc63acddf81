//! Provisioning through an OpenWrt console: activate it, configure the management link
//! with `ip` (present on OpenWrt and ours; `uci` is not touched, so nothing persists),
//! and install a proxy from an `.ipk` (opkg when it works, else unpack `data.tar.gz` on `/`).
use std::path::Path;
use std::time::Duration;

use super::{Vm, VmError};

/// What OpenWrt's procd prints on the console when it is up.
pub const ACTIVATE_PROMPT: &str = "Please press Enter to activate this console.";

/// Wait until netifd is on ubus (`ubus wait_for network.interface.loopback`, the one
/// interface every configuration has): procd's console
/// comes up while the boot scripts still run, and provisioning must not change eth0 before
/// netifd has set up its own interfaces, or netifd undoes it.
pub(crate) async fn wait_netifd(vm: &mut Vm, budget: Duration) -> Result<(), VmError> {
    let cmd = format!("ubus -t {} wait_for network.interface.loopback", budget.as_secs().max(1));
    let out = vm.exec_timeout(&cmd, budget + Duration::from_secs(10)).await?;
    if out.status != 0 {
        return Err(VmError::NotReady {
            vm: vm.name().into(),
            detail: format!("netifd was not on ubus within {budget:?}: {}", out.stdout.trim()),
        });
    }
    Ok(())
}

pub(crate) async fn configure_mgmt(vm: &mut Vm) -> Result<(), VmError> {
    // OpenWrt may have put eth0 in br-lan with 192.168.1.1; take it out for the management link.
    // Then wait for carrier: malta's pcnet reports link from a 2 s watchdog, and until then
    // the kernel drops what is sent, so an upload right away fails with a network error.
    let cmd = "ip link set eth0 nomaster 2>/dev/null; ip addr flush dev eth0; ip addr add 10.0.2.15/24 dev eth0 && \
               ip link set eth0 up && (ip route replace default via 10.0.2.2 || true) && \
               for i in 1 2 3 4 5 6 7 8 9 10; do [ \"$(cat /sys/class/net/eth0/carrier)\" = 1 ] && break; sleep 1; done; \
               [ \"$(cat /sys/class/net/eth0/carrier)\" = 1 ] || { echo 'eth0 has no carrier after 10 s'; false; }";
    let out = vm.exec(cmd).await?;
    if out.status != 0 {
        return Err(VmError::Upload {
            vm: vm.name().into(),
            path: "eth0".into(),
            detail: format!("configuring the management link failed: {}", out.stdout.trim()),
        });
    }
    vm.mgmt = true;
    Ok(())
}

/// Install an `.ipk` (a tar.gz of `debian-binary`, `control.tar.gz`, `data.tar.gz`).
/// Returns which way it went in: `opkg` or `unpacked`.
pub async fn install_ipk(vm: &mut Vm, ipk: &Path) -> Result<&'static str, VmError> {
    let guest = format!("/tmp/routerlab-{:08x}.ipk", rand::random::<u32>());
    vm.upload(ipk, &guest).await?;
    let opkg = vm
        .exec_timeout(
            &format!("command -v opkg >/dev/null && opkg install --force-depends {guest}"),
            Duration::from_secs(120),
        )
        .await?;
    if opkg.status == 0 {
        return Ok("opkg");
    }
    let dir = format!("{guest}.d");
    let unpack = format!(
        "rm -rf {dir} && mkdir -p {dir} && cd {dir} && tar -xzf {guest} && test -f data.tar.gz && tar -xzf data.tar.gz -C / && cd / && rm -rf {dir}"
    );
    let out = vm.exec_timeout(&unpack, Duration::from_secs(120)).await?;
    if out.status != 0 {
        return Err(VmError::Upload {
            vm: vm.name().into(),
            path: ipk.to_path_buf(),
            detail: format!("neither opkg nor unpacking worked: {}", out.stdout.trim()),
        });
    }
    Ok("unpacked")
}
