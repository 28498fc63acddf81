use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;

use super::shared::{ConnInfo, Shared};
use crate::accesslog::AccessRecord;
use crate::forwarded::{parse_forwarded, parse_xff, resolve, ClientIpHeader, ClientIpSource};
use crate::netaddr::Endpoint;

/// Answer and log one request. The log line is written before the response is sent, so a
/// client that has its answer can rely on the line being in the file.
/// `GET /status/NNN` answers with status NNN; everything else gets `200` and the body.
pub(crate) fn handle<B>(shared: &Shared, info: &ConnInfo, req: Request<B>) -> Response<Full<Bytes>> {
    let start = Instant::now();
    shared.stats.request();
    let headers = req.headers();
    let xff = joined(headers, "x-forwarded-for");
    let forwarded = joined(headers, "forwarded");
    let (chain, chain_source) = match shared.client_ip_header {
        ClientIpHeader::Xff => (parse_xff(xff.as_deref()), ClientIpSource::Xff),
        ClientIpHeader::Forwarded => (parse_forwarded(forwarded.as_deref()), ClientIpSource::Forwarded),
        ClientIpHeader::None => (Vec::new(), ClientIpSource::Peer),
    };
    let who = resolve(info.peer.ip(), info.proxy_source.map(|s| s.ip()), &chain, chain_source, &shared.trusted);

    let status = req
        .uri()
        .path()
        .strip_prefix("/status/")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = if status == StatusCode::OK { shared.body.clone() } else { Bytes::new() };
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);

    let rec = AccessRecord {
        time: chrono::Utc::now().fixed_offset(),
        peer_addr: Some(Endpoint::from(info.peer)),
        proxy_addr: info.proxy_source.map(Endpoint::from),
        xff,
        forwarded,
        client_ip: Some(who.ip),
        client_ip_source: Some(who.source),
        request_id: request_id.clone(),
        method: req.method().as_str().to_string(),
        path: req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into()),
        protocol: Some(format!("{:?}", req.version())),
        status: status.as_u16(),
        bytes: body.len() as u64,
        duration_us: Some(start.elapsed().as_micros() as u64),
        tls_version: info.tls_version.clone(),
        tls_cipher: info.tls_cipher.clone(),
        conn: Some(info.conn),
        tls_resumed: info.tls_resumed,
        user_agent: headers.get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    if let Err(e) = shared.log.write(&rec) {
        shared.stats.log_error();
        tracing::error!("{}", crate::errtext::Chain(&e));
        // An unlogged request must not look like a success to the load generator.
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::new()))
            .expect("static response");
    }

    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&who.ip.to_string()) {
        resp.headers_mut().insert("x-routerlab-client-ip", v);
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        resp.headers_mut().insert("x-request-id", id);
    }
    resp
}

/// All values of a header, joined with ", " in order; `None` if absent.
fn joined(h: &HeaderMap, name: &str) -> Option<String> {
    let vals: Vec<&str> = h.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!vals.is_empty()).then(|| vals.join(", "))
}
