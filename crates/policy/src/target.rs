//! What a request is for: a host, and the path when the listener knows it.

use tutela_lists::{normalize_path, HostKey, HostName, NameError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("not a URL or host name: {0}")]
    Unparsable(String),
    #[error("URL has no host: {0}")]
    NoHost(String),
    #[error("scheme `{0}` is not filtered web traffic")]
    Scheme(String),
    #[error(transparent)]
    Name(#[from] NameError),
}

/// A request's target in canonical form.
///
/// Parsing folds every trick that makes one site look like another string:
/// case, trailing dots, ports, `user@` userinfo, percent-encoding, IPv4 in
/// decimal, hex or octal, bracketed IPv6, and Unicode or punycode names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: HostName,
    key: String,
    path: Option<String>,
}

impl Target {
    /// A host alone, as a DNS query names it.
    pub fn host(name: &str) -> Result<Target, TargetError> {
        let host = HostName::parse(name)?;
        Ok(Self::from_parts(host, None))
    }

    /// A URL (`https://host/path?q`), a `host/path`, or a bare host
    /// (`host[:port]`). A bare host gives a target with no path, which
    /// URL-prefix and expression entries do not match.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(TargetError::Unparsable(String::new()));
        }
        // `scheme://` at the start; a `://` later (in a query naming another
        // URL, say) does not make a `host/path` a URL.
        let has_scheme = input
            .split_once("://")
            .is_some_and(|(scheme, _)| is_scheme(scheme));
        if !has_scheme && !input.contains(['/', '?', '#', '@', ':', '%']) {
            return Self::host(input);
        }
        let with_scheme;
        let text = if has_scheme {
            input
        } else {
            with_scheme = format!("http://{input}");
            &with_scheme
        };
        let url =
            url::Url::parse(text).map_err(|e| TargetError::Unparsable(format!("{input}: {e}")))?;
        match url.scheme() {
            "http" | "https" | "ws" | "wss" | "ftp" => {}
            other => return Err(TargetError::Scheme(other.to_string())),
        }
        let host = url
            .host()
            .ok_or_else(|| TargetError::NoHost(input.to_string()))?;
        let host = HostName::from_url_host(host)?;
        let bare = !has_scheme && !input.contains(['/', '?', '#']);
        let path = if bare {
            None
        } else {
            let mut p = url.path().to_string();
            if let Some(q) = url.query() {
                p.push('?');
                p.push_str(q);
            }
            Some(normalize_path(&p))
        };
        Ok(Self::from_parts(host, path))
    }

    fn from_parts(host: HostName, path: Option<String>) -> Target {
        let key = host.key().into_owned();
        Target { host, key, path }
    }

    pub fn host_name(&self) -> &HostName {
        &self.host
    }

    /// The canonical host text (IPv6 without brackets).
    pub fn host_str(&self) -> &str {
        &self.key
    }

    /// The normalised path and query, when known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    pub fn key(&self) -> HostKey<'_> {
        HostKey {
            key: &self.key,
            is_ip: self.host.is_ip(),
        }
    }
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.host, self.path.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tricks_fold_to_the_same_target() {
        let plain = Target::parse("http://bad.example/x").unwrap();
        for s in [
            "HTTP://BAD.EXAMPLE/x",
            "http://bad.example.:8080/x",
            "http://user:pw@bad.example/x",
            "https://good.example@bad.example/x",
            "http://b%61d.example/x",
            "bad.example/x",
            "http://bad.example/%78",
            "http://ｂａｄ.example/x",
        ] {
            let t = Target::parse(s).unwrap();
            assert_eq!(t.host_str(), plain.host_str(), "{s}");
            assert_eq!(t.path(), plain.path(), "{s}");
        }
    }

    #[test]
    fn ip_literals() {
        for s in [
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "127.1",
        ] {
            assert_eq!(Target::parse(s).unwrap().host_str(), "127.0.0.1", "{s}");
        }
        assert_eq!(Target::parse("http://[::1]:80/").unwrap().host_str(), "::1");
    }

    #[test]
    fn bare_hosts_have_no_path() {
        assert_eq!(Target::parse("example.com").unwrap().path(), None);
        assert_eq!(Target::parse("example.com:443").unwrap().path(), None);
        assert_eq!(Target::parse("example.com/").unwrap().path(), Some("/"));
    }

    #[test]
    fn rejects() {
        assert!(Target::parse("javascript:alert(1)").is_err());
        assert!(Target::parse("file:///etc/passwd").is_err());
        assert!(Target::parse("http://").is_err());
        assert!(Target::parse("").is_err());
    }
}
