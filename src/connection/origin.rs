//! Which web pages may open sockets for an app (`allowed_origins`), judged from the `Origin`
//! header browsers send with every WebSocket handshake.
//!
//! A pattern is `*` (any origin), a host (`app.example.com`, `localhost:3000`; any scheme),
//! a subdomain wildcard (`*.example.com`: every subdomain, not the domain itself), or a whole
//! origin (`https://app.example.com`, `http://*.example.com:8080`; the scheme, and the port,
//! explicit or the scheme's default, must match too). Hosts compare case-insensitively.
//!
//! A handshake without `Origin` is not a browser's (server libraries, mobile and desktop
//! clients send none, and could send any): it is let through. So is one whose origin is the
//! server's own (its authority equals the `Host` header): pages served from herald's own
//! address, and clients such as Python's websocket-client (Pysher) that send the server's
//! address as their origin. The check keeps other web sites from using an app's key in their
//! visitors' browsers, which is all an origin can prove.

/// True when a socket from `origin` (the header's bytes, if any), asking for `host` (the
/// `Host` header's), may connect.
pub fn allowed(patterns: &[String], origin: Option<&[u8]>, host: Option<&[u8]>) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let Some(origin) = origin else { return true };
    // An opaque origin (`null`, from sandboxed frames and files) matches only `*`.
    let origin = std::str::from_utf8(origin).ok().and_then(|o| Origin::parse(o.trim()));
    let same_origin = |origin: &Origin<'_>| host.is_some_and(|host| origin.authority.as_bytes().eq_ignore_ascii_case(host.trim_ascii()));
    if origin.as_ref().is_some_and(same_origin) {
        return true;
    }
    patterns.iter().filter_map(|p| Pattern::parse(p).ok()).any(|p| match &origin {
        Some(origin) => p.matches(origin),
        None => p.is_any(),
    })
}

/// Why `pattern` cannot be an `allowed_origins` entry, if it cannot.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    Pattern::parse(pattern).map(|_| ())
}

/// An `Origin` header: `scheme://host[:port]`.
struct Origin<'a> {
    scheme: &'a str,
    /// `host[:port]` as written.
    authority: &'a str,
    host: &'a str,
    /// The explicit port, else the scheme's default.
    port: Option<u16>,
}

impl<'a> Origin<'a> {
    fn parse(text: &'a str) -> Option<Origin<'a>> {
        let (scheme, rest) = text.split_once("://")?;
        let (host, port) = split_port(rest).ok()?;
        if host.is_empty() || rest.contains('/') {
            return None;
        }
        Some(Origin { scheme, authority: rest, host, port: port.or_else(|| default_port(scheme)) })
    }
}

enum Host<'a> {
    Any,
    Exact(&'a str),
    /// `*.example.com`: the part after `*.`.
    SubdomainsOf(&'a str),
}

struct Pattern<'a> {
    scheme: Option<&'a str>,
    host: Host<'a>,
    port: Option<u16>,
}

impl<'a> Pattern<'a> {
    fn parse(text: &'a str) -> Result<Pattern<'a>, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) if is_scheme(scheme) => (Some(scheme), rest),
            Some(_) => return Err("the part before :// is not a scheme such as https".into()),
            None => (None, text),
        };
        if rest.contains('/') {
            return Err("an origin has no path; remove everything from the first / after the host".into());
        }
        let (host, port) = split_port(rest)?;
        let host = match host {
            "" => return Err("the host is missing".into()),
            "*" => Host::Any,
            _ => match host.strip_prefix("*.") {
                Some(domain) if !domain.is_empty() && !domain.contains('*') => Host::SubdomainsOf(domain),
                _ if host.contains('*') => return Err("`*` may only stand alone or start the host as `*.`".into()),
                _ => Host::Exact(host),
            },
        };
        // With a scheme and no port, the scheme's default port is meant (as in an origin).
        let port = port.or_else(|| scheme.and_then(default_port));
        Ok(Pattern { scheme, host, port })
    }

    fn is_any(&self) -> bool {
        self.scheme.is_none() && self.port.is_none() && matches!(self.host, Host::Any)
    }

    fn matches(&self, origin: &Origin<'_>) -> bool {
        let scheme = self.scheme.is_none_or(|s| s.eq_ignore_ascii_case(origin.scheme));
        let port = self.port.is_none() || self.port == origin.port;
        let host = match self.host {
            Host::Any => true,
            Host::Exact(host) => host.eq_ignore_ascii_case(origin.host),
            Host::SubdomainsOf(domain) => {
                // Bytes, not str slices: a header may hold any bytes, and a cut inside a
                // multi-byte character would panic.
                let (host, domain) = (origin.host.as_bytes(), domain.as_bytes());
                host.len() > domain.len() + 1
                    && host[host.len() - domain.len() - 1] == b'.'
                    && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
            }
        };
        scheme && port && host
    }
}

/// `host[:port]`, where an IPv6 host keeps its brackets.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let colon = match text.rfind(':') {
        Some(i) if !text[i..].contains(']') => i,
        _ => return Ok((text, None)),
    };
    let port = text[colon + 1..].parse::<u16>().map_err(|_| format!("`{}` is not a port number", &text[colon + 1..]))?;
    Ok((&text[..colon], Some(port)))
}

fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic()) && text.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(patterns: &[&str], origin: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        allowed(&patterns, Some(origin.as_bytes()), Some(b"ws.example.net"))
    }

    #[test]
    fn no_patterns_or_no_origin_let_every_socket_through() {
        assert!(allowed(&[], Some(b"https://evil.example"), None));
        assert!(allowed(&["https://app.example.com".into()], None, Some(b"ws.example.net")), "server libraries and native clients send no Origin");
    }

    #[test]
    fn the_server_s_own_origin_always_passes() {
        let patterns = ["https://app.example.com".to_string()];
        assert!(allowed(&patterns, Some(b"http://127.0.0.1:6001"), Some(b"127.0.0.1:6001")), "websocket-client's default Origin");
        assert!(allowed(&patterns, Some(b"https://WS.example.net"), Some(b"ws.example.net")));
        assert!(!allowed(&patterns, Some(b"https://evil.example"), Some(b"ws.example.net")));
        assert!(!allowed(&patterns, Some(b"http://127.0.0.1:6002"), Some(b"127.0.0.1:6001")), "another port is another origin");
        assert!(!allowed(&patterns, Some(b"http://127.0.0.1:6001"), None));
    }

    #[test]
    fn a_host_matches_any_scheme_and_port_a_whole_origin_only_itself() {
        assert!(ok(&["app.example.com"], "https://app.example.com"));
        assert!(ok(&["app.example.com"], "http://APP.example.com:8080"), "hosts compare case-insensitively");
        assert!(!ok(&["app.example.com"], "https://example.com"));
        assert!(ok(&["https://app.example.com"], "https://app.example.com"));
        assert!(ok(&["https://app.example.com"], "https://app.example.com:443"), "the default port is the same origin");
        assert!(!ok(&["https://app.example.com"], "http://app.example.com"));
        assert!(!ok(&["https://app.example.com"], "https://app.example.com:8443"));
        assert!(ok(&["localhost:3000"], "http://localhost:3000"));
        assert!(!ok(&["localhost:3000"], "http://localhost:3001"));
        assert!(ok(&["http://[::1]:3000"], "http://[::1]:3000"));
    }

    #[test]
    fn a_wildcard_covers_subdomains_but_not_the_domain_or_look_alikes() {
        assert!(ok(&["*.example.com"], "https://app.example.com"));
        assert!(ok(&["*.example.com"], "https://a.b.example.com"));
        assert!(!ok(&["*.example.com"], "https://example.com"));
        assert!(!ok(&["*.example.com"], "https://badexample.com"));
        assert!(ok(&["https://*.example.com"], "https://app.example.com"));
        assert!(!ok(&["https://*.example.com"], "http://app.example.com"));
        assert!(ok(&["*"], "https://anything.test"));
        assert!(ok(&["*"], "null"), "`*` lets even an opaque origin through");
        assert!(!ok(&["app.example.com"], "null"));
        assert!(!ok(&["app.example.com", "*.example.org"], "https://app.example.net"));
        assert!(!ok(&["*.example.com"], "https://\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}.com"), "any bytes, no panic");
    }

    #[test]
    fn patterns_that_cannot_match_are_refused_with_the_reason() {
        for good in ["*", "app.example.com", "*.example.com", "https://app.example.com", "http://localhost:3000", "https://*", "[::1]:8080"] {
            assert_eq!(check_pattern(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            ("https://app.example.com/", "no path"),
            ("app.*.com", "`*` may only"),
            ("", "missing"),
            ("localhost:http", "not a port"),
            ("1http://x", "not a scheme"),
        ] {
            let error = check_pattern(bad).unwrap_err();
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }
}
