//! Line formats: plain domain lists, hosts files, adblock rules, and UT1's
//! `domains`, `urls` and `expressions` files.

use serde::Deserialize;

use crate::name::HostName;

/// The format of a list source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A UT1 folder tree (or a `.tar.gz` of one): `<category>/domains`,
    /// `urls`, `expressions`, `usage`, and `global_usage`.
    Ut1,
    /// One domain per line; `#` starts a comment.
    Domains,
    /// A hosts file: `0.0.0.0 name [name...]`.
    Hosts,
    /// Adblock-style `||domain^` and `@@||domain^` rules; others are counted
    /// as unsupported and ignored.
    Adblock,
    /// One `host/path` prefix per line (UT1 `urls`, IWF-style URL lists).
    Urls,
}

/// What one line of a list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A comment or blank line.
    Nothing,
    /// A name, covering itself and its subdomains (or an exact IP).
    Domain(HostName),
    /// Several names from one hosts-file line.
    Domains(Vec<HostName>),
    /// An adblock `@@` exception: the name and its subdomains are taken out of
    /// this list's category.
    Exception(HostName),
    /// A host and a path prefix (the path starts with `/`, normalised).
    UrlPrefix(HostName, String),
    /// A rule this format has but Tutela does not apply (cosmetic adblock
    /// rules, for example).
    Unsupported,
}

/// Why a line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("bad name: {0}")]
    Name(#[from] crate::name::NameError),
    #[error("no name on the line")]
    NoName,
    #[error("not valid UTF-8")]
    Utf8,
}

fn strip_comment(line: &str, marker: char) -> &str {
    match line.find(marker) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// A list entry's name: the rules of [`HostName::parse`], plus the list
/// spellings `*.example.com` and `.example.com`.
pub fn parse_entry_name(text: &str) -> Result<HostName, LineError> {
    let text = text.trim();
    let text = text
        .strip_prefix("*.")
        .or_else(|| text.strip_prefix('.'))
        .unwrap_or(text);
    Ok(HostName::parse(text)?)
}

/// Parses one line in `format`. UT1 trees use [`Format::Domains`] and
/// [`Format::Urls`] for their files.
pub fn parse_line(format: Format, line: &str) -> Result<Line, LineError> {
    match format {
        Format::Domains | Format::Ut1 => {
            let body = strip_comment(line, '#').trim();
            if body.is_empty() {
                return Ok(Line::Nothing);
            }
            // "example.com" or "example.com   # note"; a second word is junk.
            let mut words = body.split_whitespace();
            let name = words.next().ok_or(LineError::NoName)?;
            if words.next().is_some() {
                return Err(LineError::Name(crate::name::NameError::Invalid(
                    body.to_string(),
                )));
            }
            Ok(Line::Domain(parse_entry_name(name)?))
        }
        Format::Hosts => {
            let body = strip_comment(line, '#').trim();
            if body.is_empty() {
                return Ok(Line::Nothing);
            }
            let mut words = body.split_whitespace();
            let _address = words.next();
            let mut names = Vec::new();
            for word in words {
                if is_hosts_boilerplate(word) {
                    continue;
                }
                names.push(parse_entry_name(word)?);
            }
            match names.len() {
                0 if body.split_whitespace().count() > 1 => Ok(Line::Nothing),
                0 => Err(LineError::NoName),
                1 => Ok(Line::Domain(names.remove(0))),
                _ => Ok(Line::Domains(names)),
            }
        }
        Format::Adblock => {
            let body = line.trim();
            if body.is_empty() || body.starts_with('!') || body.starts_with('[') {
                return Ok(Line::Nothing);
            }
            let (exception, rule) = match body.strip_prefix("@@") {
                Some(rest) => (true, rest),
                None => (false, body),
            };
            let Some(rest) = rule.strip_prefix("||") else {
                return Ok(Line::Unsupported);
            };
            // `||example.com^` with nothing after the separator but options
            // that do not narrow the rule. Anything else is a path or a
            // narrowed rule, which DNS-level blocking cannot honour exactly.
            let (name, tail) = match rest.find('^') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            if name.contains('/') || name.contains('*') || !(tail.is_empty() || tail == "|") {
                return Ok(Line::Unsupported);
            }
            let host = parse_entry_name(name)?;
            Ok(if exception {
                Line::Exception(host)
            } else {
                Line::Domain(host)
            })
        }
        Format::Urls => {
            let body = line.trim();
            if body.is_empty() || body.starts_with('#') {
                return Ok(Line::Nothing);
            }
            let body = body
                .strip_prefix("http://")
                .or_else(|| body.strip_prefix("https://"))
                .unwrap_or(body);
            let (host, path) = match body.find(['/', '?']) {
                Some(i) => (&body[..i], &body[i..]),
                None => (body, ""),
            };
            let host = host.rsplit('@').next().unwrap_or(host);
            let host = strip_port(host);
            let host = parse_entry_name(host)?;
            if path.is_empty() || path == "/" {
                return Ok(Line::Domain(host));
            }
            let path = if path.starts_with('/') {
                crate::name::normalize_path(path)
            } else {
                crate::name::normalize_path(&format!("/{path}"))
            };
            Ok(Line::UrlPrefix(host, path))
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i)
            if host[i + 1..].bytes().all(|b| b.is_ascii_digit())
                && host[..i].find(':').is_none() =>
        {
            &host[..i]
        }
        _ => host,
    }
}

fn is_hosts_boilerplate(word: &str) -> bool {
    matches!(
        word,
        "localhost"
            | "localhost.localdomain"
            | "local"
            | "broadcasthost"
            | "0.0.0.0"
            | "ip6-localhost"
            | "ip6-loopback"
            | "ip6-localnet"
            | "ip6-mcastprefix"
            | "ip6-allnodes"
            | "ip6-allrouters"
            | "ip6-allhosts"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> HostName {
        HostName::Domain(s.into())
    }

    #[test]
    fn domains() {
        assert_eq!(parse_line(Format::Domains, "  # c").unwrap(), Line::Nothing);
        assert_eq!(
            parse_line(Format::Domains, "*.Example.com. # c").unwrap(),
            Line::Domain(d("example.com"))
        );
        assert!(parse_line(Format::Domains, "a b").is_err());
        assert!(parse_line(Format::Domains, "exa$mple.com").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_line(Format::Hosts, "0.0.0.0 a.com b.com # x").unwrap(),
            Line::Domains(vec![d("a.com"), d("b.com")])
        );
        assert_eq!(
            parse_line(Format::Hosts, "127.0.0.1 localhost").unwrap(),
            Line::Nothing
        );
        assert!(parse_line(Format::Hosts, "0.0.0.0").is_err());
    }

    #[test]
    fn adblock() {
        assert_eq!(
            parse_line(Format::Adblock, "||ads.example.com^").unwrap(),
            Line::Domain(d("ads.example.com"))
        );
        assert_eq!(
            parse_line(Format::Adblock, "@@||good.example.com^").unwrap(),
            Line::Exception(d("good.example.com"))
        );
        assert_eq!(
            parse_line(Format::Adblock, "! comment").unwrap(),
            Line::Nothing
        );
        assert_eq!(
            parse_line(Format::Adblock, "##.banner").unwrap(),
            Line::Unsupported
        );
        assert_eq!(
            parse_line(Format::Adblock, "||example.com/ads^").unwrap(),
            Line::Unsupported
        );
        assert_eq!(
            parse_line(Format::Adblock, "||example.com^$third-party").unwrap(),
            Line::Unsupported
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_line(Format::Urls, "Example.com/Some/%70ath").unwrap(),
            Line::UrlPrefix(d("example.com"), "/some/path".into())
        );
        assert_eq!(
            parse_line(Format::Urls, "http://example.com:80/").unwrap(),
            Line::Domain(d("example.com"))
        );
        assert!(parse_line(Format::Urls, "/nohost").is_err());
    }
}
