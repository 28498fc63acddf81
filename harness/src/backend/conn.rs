use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

use super::config::Listener;
use super::shared::{ConnInfo, Shared};
use crate::accesslog::RejectRecord;
use crate::netaddr::Endpoint;
use crate::proxyproto::{read_header, HeaderPolicy, ProxyError, Rewind};

pub(crate) async fn serve(shared: Arc<Shared>, listener: Arc<Listener>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (proxy_source, prefix) = if listener.proxy == HeaderPolicy::Off {
        (None, Vec::new())
    } else {
        match read_header(&mut stream, peer.ip(), &shared.trusted, listener.proxy, shared.header_timeout).await {
            Ok(out) => (out.header.source, out.leftover),
            Err(e) => return reject(&shared, &listener, peer, &e),
        }
    };
    let io = Rewind::new(prefix, stream);
    let conn = shared.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut info = ConnInfo { peer, proxy_source, tls_version: None, tls_cipher: None, conn, tls_resumed: None };
    match &shared.tls {
        // A client that never finishes its handshake is cut after the request-header timeout
        // (30 s), not the PROXY header's 3 s: a busy emulated MIPS router's proxy took over 3 s
        // to finish its handshakes, and each one cut made HAProxy retry with another, until
        // no request got through (an hour's soak, 28,575 cut). Real servers wait (nginx: 60 s).
        Some(acceptor) if listener.tls => {
            match tokio::time::timeout(shared.request_header_timeout, acceptor.accept(io))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut)))
            {
                Ok(tls) => {
                    let session = tls.get_ref().1;
                    info.tls_version = session.protocol_version().and_then(|v| v.as_str()).map(tls_version_name);
                    info.tls_cipher =
                        session.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).map(str::to_string);
                    info.tls_resumed = session.handshake_kind().map(|k| k == rustls::HandshakeKind::Resumed);
                    http(shared, info, TokioIo::new(tls)).await
                }
                Err(e) => {
                    shared.stats.reject("tls-handshake");
                    tracing::debug!(%peer, listener = %listener.addr, error = %e, "TLS handshake failed");
                }
            }
        }
        _ => http(shared, info, TokioIo::new(io)).await,
    }
}

/// `TLSv1_3` → `TLSv1.3`, as OpenSSL and nginx spell it.
fn tls_version_name(v: &str) -> String {
    v.replace('_', ".")
}

async fn http<I>(shared: Arc<Shared>, info: ConnInfo, io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let header_timeout = shared.request_header_timeout;
    let info = Arc::new(info);
    let svc = service_fn(move |req| {
        let (shared, info) = (shared.clone(), info.clone());
        async move { Ok::<_, Infallible>(super::handler::handle(&shared, &info, req)) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper waits for request headers forever: a slowloris client (one
    // header byte now and then) held its connection for good. Now each request's headers
    // must be complete within the request header timeout, else a 408 and the close.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    if let Err(e) = builder.serve_connection(io, svc).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

fn reject(shared: &Shared, listener: &Listener, peer: SocketAddr, e: &ProxyError) {
    shared.stats.reject(e.reason());
    tracing::warn!(%peer, listener = %listener.addr, reason = e.reason(), "rejected connection: {}", crate::errtext::Chain(e));
    if let Some(log) = &shared.reject_log {
        let rec = RejectRecord {
            time: chrono::Utc::now().fixed_offset(),
            peer_addr: Endpoint::from(peer),
            listener: listener.addr.to_string(),
            reason: e.reason().to_string(),
            detail: crate::errtext::chain(e),
        };
        if let Err(err) = log.write(&rec) {
            shared.stats.log_error();
            tracing::error!("{}", crate::errtext::Chain(&err));
        }
    }
}
