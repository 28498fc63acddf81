//! Client-IP resolution from X-Forwarded-For, RFC 7239 `Forwarded` and PROXY headers,
//! walking right to left through trusted proxies only.
mod parse;
mod resolve;

pub use parse::{parse_forwarded, parse_xff, Node};
pub use resolve::{resolve, ClientIpHeader, ClientIpSource, Resolution};
