use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::config::Listener;
use super::shared::Shared;
use super::{BackendConfig, BackendError, BackendStats};
use crate::accesslog::{AccessLog, RejectLog};

/// A listener after binding (the real port when 0 was asked for).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoundListener {
    pub addr: SocketAddr,
    pub tls: bool,
    pub proxy_protocol: crate::proxyproto::HeaderPolicy,
}

impl BoundListener {
    /// `https://127.0.0.1:8443 proxy-protocol=off`: the line printed when ready.
    pub fn describe(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{} proxy-protocol={}", self.addr, self.proxy_protocol)
    }
}

/// A running backend. Dropping it stops accepting and closes open connections.
pub struct Backend {
    bound: Vec<BoundListener>,
    stats: Arc<BackendStats>,
    accept_tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Backend {
    /// Validate, load certificates, open logs and bind every listener, then serve in the background.
    pub async fn start(cfg: &BackendConfig) -> Result<Backend, BackendError> {
        let listeners = cfg.listeners()?;
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) if listeners.iter().any(|l| l.tls) => {
                let mut sc = crate::tls::server_config(c, k, &[b"h2", b"http/1.1"])?;
                sc.key_log = crate::tls::key_log(cfg.keylog.as_deref());
                Some(TlsAcceptor::from(Arc::new(sc)))
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            log: AccessLog::create(&cfg.access_log, cfg.log_format)?,
            reject_log: cfg.reject_log.as_deref().map(RejectLog::create).transpose()?,
            stats: Arc::new(BackendStats::default()),
            next_conn: std::sync::atomic::AtomicU64::new(1),
            trusted: cfg.trusted.clone(),
            client_ip_header: cfg.client_ip_header,
            header_timeout: cfg.header_timeout,
            request_header_timeout: cfg.request_header_timeout,
            body: Bytes::from(
                vec![b'.'; cfg.body_bytes.saturating_sub(1)].into_iter().chain([b'\n']).collect::<Vec<u8>>(),
            ),
            tls,
        });
        let (shutdown, rx) = watch::channel(false);
        let mut bound = Vec::new();
        let mut sockets = Vec::new();
        for l in &listeners {
            let sock = TcpListener::bind(l.addr).await.map_err(|source| BackendError::Bind { addr: l.addr, source })?;
            let addr = sock.local_addr().map_err(|source| BackendError::Bind { addr: l.addr, source })?;
            bound.push(BoundListener { addr, tls: l.tls, proxy_protocol: l.proxy });
            sockets.push((sock, Listener { addr, ..l.clone() }));
        }
        let accept_tasks = sockets
            .into_iter()
            .map(|(sock, l)| tokio::spawn(accept_loop(sock, Arc::new(l), shared.clone(), rx.clone())))
            .collect();
        Ok(Backend { bound, stats: shared.stats.clone(), accept_tasks, shutdown })
    }

    pub fn listeners(&self) -> &[BoundListener] {
        &self.bound
    }

    pub fn stats(&self) -> Arc<BackendStats> {
        self.stats.clone()
    }

    /// Stop accepting and close every connection.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in self.accept_tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(sock: TcpListener, listener: Arc<Listener>, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    loop {
        match sock.accept().await {
            Ok((stream, peer)) => {
                shared.stats.connection();
                let (shared, listener, mut shutdown) = (shared.clone(), listener.clone(), shutdown.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = super::conn::serve(shared, listener, stream, peer) => {}
                        _ = shutdown.wait_for(|stop| *stop) => {}
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(listener = %listener.addr, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
