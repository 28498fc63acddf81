//! Uploads over HTTP: the host serves the file once, the guest fetches it with `wget`
//! (busybox, or OpenWrt's uclient-fetch) and prints its sha256, which must match. On the
//! management link the host listens on loopback and the guest uses 10.0.2.2 (QEMU user
//! networking's host alias); in a lab run the listener sits in a lab namespace the router
//! reaches over its own links (`upload_via`).
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::args::NicBackend;
use super::machine::Vm;
use super::VmError;

pub(crate) async fn upload(vm: &mut Vm, local: &Path, guest: &str) -> Result<(), VmError> {
    let name = vm.cfg.name.clone();
    let err = |detail: String| VmError::Upload { vm: name.clone(), path: local.to_path_buf(), detail };
    if !(vm.mgmt && vm.cfg.nics.iter().any(|n| n.backend == NicBackend::User)) {
        return Err(err("the VM has no management link (a user-mode NIC configured as 10.0.2.15)".into()));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("bind: {e}")))?;
    upload_via(vm, listener, "10.0.2.2", local, guest).await
}

/// Upload through `listener` (bound where the guest can reach it as `host`).
pub(crate) async fn upload_via(
    vm: &mut Vm,
    listener: std::net::TcpListener,
    host: &str,
    local: &Path,
    guest: &str,
) -> Result<(), VmError> {
    let name = vm.cfg.name.clone();
    let err = |detail: String| VmError::Upload { vm: name.clone(), path: local.to_path_buf(), detail };
    let data = std::fs::read(local).map_err(|e| err(e.to_string()))?;
    let want = crate::image::sha256_hex(&data);
    listener.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
    let listener = TcpListener::from_std(listener).map_err(|e| err(format!("listener: {e}")))?;
    let port = listener.local_addr().map_err(|e| err(e.to_string()))?.port();
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    let token = format!("{:016x}", rand::random::<u64>());
    let path = format!("/{token}");
    let server = tokio::spawn(async move {
        // Serve until the right path has been fetched once; ignore strays.
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let mut head = vec![0u8; 2048];
            let n = s.read(&mut head).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&head[..n]);
            if req.split_whitespace().nth(1) == Some(path.as_str()) {
                let hdr = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    data.len()
                );
                let _ = s.write_all(hdr.as_bytes()).await;
                let _ = s.write_all(&data).await;
                let _ = s.shutdown().await;
                return;
            }
            let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let q = guest.replace('\'', r"'\''");
    let dir = guest.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or(".");
    let cmd = format!("mkdir -p '{dir}' && wget -q -O '{q}' http://{host}:{port}/{token} && sha256sum '{q}'");
    let out = vm.exec_timeout(&cmd, Duration::from_secs(120)).await;
    server.abort();
    let out = out?;
    if out.status != 0 {
        return Err(err(format!("guest command failed ({}): {}", out.status, out.stdout.trim())));
    }
    let got = out.stdout.split_whitespace().next().unwrap_or_default();
    if got != want {
        return Err(err(format!("sha256 in the guest is {got}, expected {want}")));
    }
    Ok(())
}
