//! Canonical host names and paths.
//!
//! List entries and request targets go through the same functions here, so that
//! a name written one way in a list and another way in a request still meet:
//! case, a trailing dot, IDN (Unicode or punycode), percent-encoding and the
//! many spellings of an IPv4 address all fold to one form.

use std::fmt;
#[cfg(test)]
use std::net::Ipv4Addr;
use std::net::{IpAddr, Ipv6Addr};

/// Why a name could not be made canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name longer than 253 bytes")]
    TooLong,
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    #[error("empty label")]
    EmptyLabel,
    #[error("not a valid host name: {0}")]
    Invalid(String),
}

/// A host in canonical form: a lower-case ASCII (punycode) domain name with no
/// trailing dot, or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostName {
    Domain(String),
    Ip(IpAddr),
}

impl HostName {
    /// Canonicalises a host as it may appear in a list or a request.
    ///
    /// Accepts Unicode and punycode names, upper case, one trailing dot,
    /// percent-encoding, bracketed IPv6 and the WHATWG spellings of IPv4
    /// (`0x7f.1`, `2130706433`, `0177.0.0.1`).
    pub fn parse(input: &str) -> Result<HostName, NameError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(domain) = fast_ascii_domain(input) {
            return Ok(HostName::Domain(domain));
        }
        if let Some(inner) = input.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .map(HostName::v6)
                .map_err(|_| NameError::Invalid(input.to_string()));
        }
        if let Ok(ip) = input.parse::<Ipv6Addr>() {
            return Ok(HostName::v6(ip));
        }
        match url::Host::parse(input) {
            Ok(url::Host::Domain(d)) => check_domain(&d).map(HostName::Domain),
            Ok(url::Host::Ipv4(ip)) => Ok(HostName::Ip(IpAddr::V4(ip))),
            Ok(url::Host::Ipv6(ip)) => Ok(HostName::v6(ip)),
            Err(_) => Err(NameError::Invalid(input.to_string())),
        }
    }

    /// Builds a host from what the `url` crate parsed out of a URL.
    pub fn from_url_host(host: url::Host<&str>) -> Result<HostName, NameError> {
        match host {
            url::Host::Domain(d) => HostName::parse(d),
            url::Host::Ipv4(ip) => Ok(HostName::Ip(IpAddr::V4(ip))),
            url::Host::Ipv6(ip) => Ok(HostName::v6(ip)),
        }
    }

    /// An IPv4-mapped address (`::ffff:a.b.c.d`) reaches the IPv4 address
    /// on any dual-stack socket, so it is that address.
    fn v6(ip: Ipv6Addr) -> HostName {
        HostName::Ip(IpAddr::V6(ip).to_canonical())
    }

    /// The key this host is stored under in an index: the domain, or the
    /// canonical text of the address (IPv6 without brackets).
    pub fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            HostName::Domain(d) => std::borrow::Cow::Borrowed(d),
            HostName::Ip(ip) => std::borrow::Cow::Owned(ip.to_string()),
        }
    }

    pub fn is_ip(&self) -> bool {
        matches!(self, HostName::Ip(_))
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Domain(d) => f.write_str(d),
            HostName::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The common case, without the cost of IDNA: plain ASCII letters, digits,
/// hyphens and underscores in dot-separated labels. Returns `None` for
/// anything the full WHATWG parser must look at (non-ASCII, punycode, `%`,
/// a numeric last label that could be an IPv4 spelling).
fn fast_ascii_domain(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let trimmed = bytes.strip_suffix(b".").unwrap_or(bytes);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return None;
    }
    let mut label_len = 0usize;
    let mut label_start = 0usize;
    for (i, &b) in trimmed.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => {
                label_len += 1;
                if label_len > 63 {
                    return None;
                }
            }
            b'.' => {
                if label_len == 0 {
                    return None;
                }
                label_len = 0;
                label_start = i + 1;
            }
            _ => return None,
        }
    }
    if label_len == 0 {
        return None;
    }
    // Labels starting "xn--" need IDNA validation; a last label starting with a
    // digit may be an IPv4 spelling. Both go the slow way.
    let last = &trimmed[label_start..];
    if last[0].is_ascii_digit() || contains_punycode_label(trimmed) {
        return None;
    }
    let mut out = String::with_capacity(trimmed.len());
    for &b in trimmed {
        out.push(b.to_ascii_lowercase() as char);
    }
    Some(out)
}

fn contains_punycode_label(name: &[u8]) -> bool {
    name.split(|&b| b == b'.')
        .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case(b"xn--"))
}

/// Length and label checks the WHATWG parser does not make, and removal of a
/// single trailing dot.
fn check_domain(domain: &str) -> Result<String, NameError> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.is_empty() {
        return Err(NameError::Empty);
    }
    if d.len() > 253 {
        return Err(NameError::TooLong);
    }
    // WHATWG lets through `$`, `*`, `'` and the like; no DNS host name has them.
    if let Some(c) = d
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::Invalid(format!("character {c:?} in {d:?}")));
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
    }
    Ok(d.to_string())
}

/// Is `domain` (canonical) a single label or a public suffix in the ICANN
/// section of the Public Suffix List? Such an entry, taken at face value,
/// would cover a whole top-level domain (`com`, `co.uk`).
///
/// Suffixes in the list's private section (`blogspot.com`, `github.io`) are
/// run by one company, and listing one is a real choice by the list's author,
/// so they are not counted here.
pub fn is_public_suffix(domain: &str) -> bool {
    if !domain.contains('.') {
        return true;
    }
    match psl::suffix(domain.as_bytes()) {
        Some(s) => s.as_bytes() == domain.as_bytes() && s.typ() == Some(psl::Type::Icann),
        None => false,
    }
}

/// Canonical form of a URL path (with its query): percent-escapes of
/// unreserved characters decoded, other escapes upper-cased, runs of `/`
/// before the query made one (web servers read `//bad` as `/bad`), and the
/// whole lower-cased, so that `/%62ad`, `//BAD` and `/bad` meet the entry
/// `/bad`.
pub fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut in_query = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        in_query |= b == b'?';
        if b == b'/' && !in_query && out.ends_with('/') {
            i += 1;
            continue;
        }
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let v = h * 16 + l;
                if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                    out.push(v.to_ascii_lowercase() as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Multi-byte UTF-8 is copied whole; only ASCII is folded.
        let ch_len = utf8_len(b);
        let end = (i + ch_len).min(bytes.len());
        match path.get(i..end) {
            Some(s) => out.push_str(&s.to_ascii_lowercase()),
            None => out.push(char::REPLACEMENT_CHARACTER),
        }
        i = end;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> HostName {
        HostName::Domain(s.to_string())
    }

    #[test]
    fn folds_case_trailing_dot_and_idn() {
        assert_eq!(HostName::parse("Example.COM.").unwrap(), d("example.com"));
        assert_eq!(HostName::parse("bücher.de").unwrap(), d("xn--bcher-kva.de"));
        assert_eq!(
            HostName::parse("XN--BCHER-KVA.de").unwrap(),
            d("xn--bcher-kva.de")
        );
        // Full-width letters are a compatibility form of ASCII.
        assert_eq!(
            HostName::parse("ｅｘａｍｐｌｅ.com").unwrap(),
            d("example.com")
        );
        assert_eq!(HostName::parse("ex%61mple.com").unwrap(), d("example.com"));
        assert_eq!(
            HostName::parse("_dmarc.example.com").unwrap(),
            d("_dmarc.example.com")
        );
    }

    #[test]
    fn ipv4_spellings_fold_to_one() {
        let lo = HostName::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        for s in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0177.0.0.1",
            "127.1",
        ] {
            assert_eq!(HostName::parse(s).unwrap(), lo, "{s}");
        }
        let v6 = HostName::parse("[::FFFF:1.2.3.4]").unwrap();
        assert_eq!(v6, HostName::parse("::ffff:102:304").unwrap());
        // IPv4-mapped IPv6 is the IPv4 address.
        assert_eq!(v6, HostName::parse("1.2.3.4").unwrap());
        assert_eq!(v6.key(), "1.2.3.4");
    }

    #[test]
    fn rejects_junk() {
        for s in [
            "",
            ".",
            "a..b",
            "exa mple.com",
            "a/b",
            "[::1",
            "1.2.3.4.5",
            &"a".repeat(64),
        ] {
            assert!(HostName::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn public_suffixes() {
        assert!(is_public_suffix("com"));
        assert!(is_public_suffix("co.uk"));
        assert!(is_public_suffix("localhost"));
        assert!(!is_public_suffix("example.com"));
        assert!(!is_public_suffix("blogspot.com"));
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("/%62AD/Page?Q=%2f"), "/bad/page?q=%2F");
        assert_eq!(normalize_path("//a///b/?u=http://x"), "/a/b/?u=http://x");
        assert_eq!(normalize_path("/%"), "/%");
        assert_eq!(normalize_path("/%4"), "/%4");
        assert_eq!(normalize_path("/ü"), "/ü");
    }
}
