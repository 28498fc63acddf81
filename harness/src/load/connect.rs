use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use super::journal::ErrorClass;

pub(crate) enum Sender {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

pub(crate) struct Connected {
    pub sender: Sender,
    pub source: Option<IpAddr>,
    /// Duration of the TLS handshake, if there was one.
    pub handshake: Option<Duration>,
    pub resumed: bool,
}

/// Opens connections to one target: TCP from a chosen source, TLS, then HTTP/1.1 or HTTP/2.
pub(crate) struct Connector {
    pub addr: SocketAddr,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub http2: bool,
}

impl Connector {
    pub fn new(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
        host: &str,
        http2: bool,
    ) -> Result<Connector, super::LoadError> {
        let tls = match tls {
            Some(cfg) => {
                let name = ServerName::try_from(host.to_string()).map_err(|e| {
                    super::LoadError::BadOption(format!("{host:?} is not a valid TLS server name: {e}"))
                })?;
                Some((TlsConnector::from(cfg), name))
            }
            None => None,
        };
        Ok(Connector { addr, tls, http2 })
    }

    pub async fn connect(&self, source: Option<IpAddr>) -> Result<Connected, ErrorClass> {
        let tcp = tcp_connect(self.addr, source).await.map_err(|e| {
            tracing::debug!(target = %self.addr, ?source, "connect failed: {e}");
            ErrorClass::Connect
        })?;
        match &self.tls {
            Some((connector, name)) => {
                let t = Instant::now();
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| {
                    tracing::debug!(target = %self.addr, "TLS handshake failed: {e}");
                    ErrorClass::Tls
                })?;
                let handshake = Some(t.elapsed());
                let resumed = matches!(tls.get_ref().1.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
                let sender = self.http(TokioIo::new(tls)).await?;
                Ok(Connected { sender, source, handshake, resumed })
            }
            None => {
                Ok(Connected { sender: self.http(TokioIo::new(tcp)).await?, source, handshake: None, resumed: false })
            }
        }
    }

    async fn http<I>(&self, io: I) -> Result<Sender, ErrorClass>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        if self.http2 {
            let (s, conn) = http2::handshake(TokioExecutor::new(), io).await.map_err(|_| ErrorClass::Protocol)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H2(s))
        } else {
            let (s, conn) = http1::handshake(io).await.map_err(|_| ErrorClass::Protocol)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H1(s))
        }
    }
}

/// Linux `IP_BIND_ADDRESS_NO_PORT`: bind the source address now, pick the port at connect
/// time, so thousands of connections from one address don't exhaust the ephemeral range.
const IP_BIND_ADDRESS_NO_PORT: libc::c_int = 24;

async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(src) = source {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        sock.bind(SocketAddr::new(src, 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
