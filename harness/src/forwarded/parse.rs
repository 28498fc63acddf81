use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netaddr::Endpoint;

/// One hop of a forwarding chain, leftmost (oldest) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Ip(IpAddr),
    /// RFC 7239 `unknown` (also accepted in X-Forwarded-For).
    Unknown,
    /// RFC 7239 obfuscated identifier, `_hidden`.
    Obfuscated(String),
    /// Syntax the hop should not have produced; the chain can't be trusted past it.
    Invalid(String),
    /// A Forwarded element without a `for=` parameter.
    Missing,
}

/// X-Forwarded-For values, in header order. Entries are comma-separated; a port
/// (`1.2.3.4:80`, `[2001:db8::1]:80`) is tolerated and dropped.
pub fn parse_xff<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Node> {
    let mut out = Vec::new();
    for v in values {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(if part.eq_ignore_ascii_case("unknown") {
                Node::Unknown
            } else {
                part.parse::<Endpoint>().map(|e| Node::Ip(e.ip)).unwrap_or_else(|_| Node::Invalid(part.to_string()))
            });
        }
    }
    out
}

/// RFC 7239 `Forwarded` values, in header order: one node per forwarded-element,
/// taken from its `for` parameter. A malformed element becomes `Node::Invalid`.
pub fn parse_forwarded<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Node> {
    let mut out = Vec::new();
    for v in values {
        for element in split_unquoted(v, ',') {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            out.push(element_node(element));
        }
    }
    out
}

fn element_node(element: &str) -> Node {
    let mut node = Node::Missing;
    for pair in split_unquoted(element, ';') {
        let pair = pair.trim();
        let Some((name, raw)) = pair.split_once('=') else {
            return Node::Invalid(element.to_string());
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Node::Invalid(element.to_string());
        }
        let Some(value) = unquote(raw) else { return Node::Invalid(element.to_string()) };
        if name.eq_ignore_ascii_case("for") {
            if node != Node::Missing {
                return Node::Invalid(element.to_string()); // two `for` in one element
            }
            node = node_value(&value, raw.starts_with('"'));
        }
    }
    node
}

/// `node = nodename [ ":" node-port ]`, nodename = IPv4 / "[" IPv6 "]" / "unknown" / obfnode.
fn node_value(v: &str, quoted: bool) -> Node {
    let invalid = || Node::Invalid(v.to_string());
    if v.eq_ignore_ascii_case("unknown") {
        return Node::Unknown;
    }
    if let Some(rest) = v.strip_prefix('_') {
        return if !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            Node::Obfuscated(v.to_string())
        } else {
            invalid()
        };
    }
    // A ':' (IPv6 or port) is not a token character: such values must be quoted.
    if v.contains(':') && !quoted {
        return invalid();
    }
    let (name, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else { return invalid() };
        let Ok(ip) = inside.parse::<Ipv6Addr>() else { return invalid() };
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return invalid(),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match v.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (v, None),
        };
        let Ok(ip) = host.parse::<Ipv4Addr>() else { return invalid() };
        (IpAddr::V4(ip), port)
    };
    if let Some(p) = port {
        let ok = p.parse::<u16>().is_ok() && p.bytes().all(|b| b.is_ascii_digit())
            || (p.starts_with('_')
                && p.len() > 1
                && p[1..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'));
        if !ok {
            return invalid();
        }
    }
    Node::Ip(name)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A token, or a quoted-string with its escapes removed. `None` if malformed.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return (!raw.is_empty() && raw.bytes().all(is_tchar)).then(|| raw.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    loop {
        match chars.next()? {
            '"' => return chars.next().is_none().then_some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
}

/// Split on `sep` outside quoted strings.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == sep && !in_quotes => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    #[test]
    fn xff_lists_across_headers_with_ports_and_unknown() {
        let n = parse_xff(["6.6.6.6, 203.0.113.7:5555", "[2001:db8::1]:80,2001:db8::2", " unknown ,bogus"]);
        assert_eq!(
            n,
            vec![
                ip("6.6.6.6"),
                ip("203.0.113.7"),
                ip("2001:db8::1"),
                ip("2001:db8::2"),
                Node::Unknown,
                Node::Invalid("bogus".into())
            ]
        );
    }

    #[test]
    fn forwarded_rfc7239_examples() {
        assert_eq!(parse_forwarded([r#"for="_gazonk""#]), vec![Node::Obfuscated("_gazonk".into())]);
        assert_eq!(parse_forwarded([r#"For="[2001:db8:cafe::17]:4711""#]), vec![ip("2001:db8:cafe::17")]);
        assert_eq!(parse_forwarded(["for=192.0.2.60;proto=http;by=203.0.113.43"]), vec![ip("192.0.2.60")]);
        assert_eq!(parse_forwarded(["for=192.0.2.43, for=198.51.100.17"]), vec![ip("192.0.2.43"), ip("198.51.100.17")]);
        assert_eq!(parse_forwarded(["for=unknown", "for=\"192.0.2.1:_port\""]), vec![Node::Unknown, ip("192.0.2.1")]);
    }

    #[test]
    fn forwarded_requires_quotes_for_ipv6_and_ports() {
        assert!(matches!(parse_forwarded(["for=[2001:db8::1]"])[0], Node::Invalid(_)));
        assert!(matches!(parse_forwarded(["for=192.0.2.1:80"])[0], Node::Invalid(_)));
        assert!(matches!(parse_forwarded([r#"for="2001:db8::1""#])[0], Node::Invalid(_)), "IPv6 needs brackets");
        assert_eq!(parse_forwarded([r#"for="[2001:db8::1]""#]), vec![ip("2001:db8::1")]);
    }

    #[test]
    fn forwarded_quoted_commas_and_missing_for() {
        // The comma inside quotes does not split elements; it is not valid in an obfnode.
        let n = parse_forwarded([r#"for="_a,b";by=x, proto=https"#]);
        assert_eq!(n.len(), 2);
        assert!(matches!(n[0], Node::Invalid(_)));
        assert_eq!(n[1], Node::Missing);
        assert!(matches!(parse_forwarded(["for=1.2.3.4;for=5.6.7.8"])[0], Node::Invalid(_)));
        assert!(matches!(parse_forwarded(["for=\"1.2.3.4"])[0], Node::Invalid(_)));
        assert!(matches!(parse_forwarded(["garbage"])[0], Node::Invalid(_)));
    }
}
