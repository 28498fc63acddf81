//! Uploads over HTTP: the host serves the file once, the guest fetches it with `wget`
//! (busybox, or OpenWrt's uclient-fetch) and prints its sha256, which must match. On the
//! management link the host listens on loopback and the guest uses 10.0.2.2 (QEMU user
//! networking's host alias); in a lab run the listener sits in a lab namespace the router
//! reaches over its own links (`upload_via`).
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::args::NicBackend;
use super::machine::Vm;
use super::VmError;

impl Vm {
    /// Put a host file into the guest through `listener`, which the host bound somewhere
    /// the guest reaches as `host` (a lab namespace), and verify its sha256 there.
    pub async fn upload_via(
        &mut self,
        listener: std::net::TcpListener,
        host: &str,
        local: &std::path::Path,
        guest: &str,
    ) -> Result<Duration, VmError> {
        let t0 = Instant::now();
        upload_via(self, listener, host, local, guest).await?;
        Ok(t0.elapsed())
    }

    /// Put a host file into the guest and verify its sha256 there.
    pub async fn upload(&mut self, local: &std::path::Path, guest: &str) -> Result<Duration, VmError> {
        let t0 = Instant::now();
        upload(self, local, guest).await?;
        Ok(t0.elapsed())
    }
}

async fn upload(vm: &mut Vm, local: &Path, guest: &str) -> Result<(), VmError> {
    let name = vm.cfg.name.clone();
    let err = |detail: String| VmError::Upload { vm: name.clone(), path: local.to_path_buf(), detail };
    if !(vm.mgmt && vm.cfg.nics.iter().any(|n| n.backend == NicBackend::User)) {
        return Err(err("the VM has no management link (a user-mode NIC configured as 10.0.2.15)".into()));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("bind: {e}")))?;
    upload_via(vm, listener, "10.0.2.2", local, guest).await
}

/// Upload through `listener` (bound where the guest can reach it as `host`).
async fn upload_via(
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
    let server = serve(listener, path, data);
    let q = guest.replace('\'', r"'\''");
    let dir = guest.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or(".");
    // A fetch can meet a link that does not carry yet: try three times, then say so with
    // wget's own exit status.
    let cmd = format!(
        "mkdir -p '{dir}' && for i in 1 2 3; do wget -q -O '{q}' http://{host}:{port}/{token}; rc=$?; \
         [ $rc = 0 ] && break; sleep 1; done; [ $rc = 0 ] && sha256sum '{q}' || {{ echo \"wget exit $rc, 3 tries\"; false; }}"
    );
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

/// Serve `data` at `path` on `listener` until aborted (a retried fetch gets it again);
/// any other path gets a 404.
fn serve(listener: TcpListener, path: String, data: Vec<u8>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let req = read_head(&mut s).await;
            if req.split_whitespace().nth(1) == Some(path.as_str()) {
                let hdr = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    data.len()
                );
                let _ = s.write_all(hdr.as_bytes()).await;
                let _ = s.write_all(&data).await;
                let _ = s.shutdown().await;
                drain(&mut s).await;
                continue;
            }
            let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
            let _ = s.shutdown().await;
            drain(&mut s).await;
        }
    })
}

/// The request's head, read up to its blank line (or 8 KiB, or 10 s). OpenWrt's
/// uclient-fetch sends the request line and the headers in separate writes: answering after
/// the first and closing with the rest unread makes the kernel reset the connection, and
/// the client fails with "connection failed" (exit 4) before it reads the body.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Read until the client closes (or 10 s), so closing never resets what it still reads.
async fn drain(s: &mut tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends its request line and headers in two writes, as uclient-fetch
    /// does, gets the whole body: the server reads the head to its end before answering.
    #[tokio::test]
    async fn a_request_head_in_two_writes_gets_the_whole_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let server = serve(listener, "/tok".into(), data.clone());
        // A stray path first: a 404, and the server keeps serving.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /other HTTP/1.1\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(got.starts_with(b"HTTP/1.0 404"), "{}", String::from_utf8_lossy(&got));
        drop(s);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /tok HTTP/1.1\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.write_all(b"Host: 10.0.2.2\r\nUser-Agent: uclient-fetch\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("no reset");
        let body = got.windows(4).position(|w| w == b"\r\n\r\n").map(|p| &got[p + 4..]).unwrap();
        assert_eq!(body.len(), data.len());
        assert!(body == data.as_slice());
        server.abort();
    }
}
