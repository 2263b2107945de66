//! The access event: one verdict, with the fields the DfE asks logs to show.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// How the request reached Tutela.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Dns,
    Http,
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Dns => "dns",
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "dns" => Some(Protocol::Dns),
            "http" => Some(Protocol::Http),
            "https" => Some(Protocol::Https),
            _ => None,
        }
    }
}

/// A unique reference for one event, short enough to read out over the
/// phone from a block page: 13 Crockford base-32 characters.
///
/// Layout: 42 bits of milliseconds since 2020, 10 bits of node (random per
/// process, so several sites writing one database do not collide), 12 bits
/// of sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventRef(pub i64);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const EPOCH_2020_MS: i64 = 1_577_836_800_000;

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0 as u64;
        let mut out = [0u8; 13];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 60 - 5 * i as u32;
            *c = CROCKFORD[((v >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl std::str::FromStr for EventRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 13 {
            return Err(format!("a reference has 13 characters, not {}", s.len()));
        }
        let mut v: u64 = 0;
        for b in s.bytes() {
            let b = match b.to_ascii_uppercase() {
                b'O' => b'0',
                b'I' | b'L' => b'1',
                x => x,
            };
            let d = CROCKFORD
                .iter()
                .position(|c| *c == b)
                .ok_or_else(|| format!("`{}` is not in a reference", b as char))?;
            v = (v << 5) | d as u64;
        }
        Ok(EventRef(v as i64))
    }
}

/// Makes [`EventRef`]s for one process.
pub struct RefGenerator {
    node: u64,
    last: AtomicU64,
}

impl Default for RefGenerator {
    fn default() -> Self {
        RefGenerator {
            node: rand::random::<u64>() & 0x3ff,
            last: AtomicU64::new(0),
        }
    }
}

impl RefGenerator {
    pub fn next(&self, time_us: i64) -> EventRef {
        let ms = ((time_us / 1000 - EPOCH_2020_MS).max(0) as u64) & ((1 << 42) - 1);
        let candidate = (ms << 22) | (self.node << 12);
        // Strictly increasing within the process: the sequence bits absorb
        // bursts within one millisecond, and a burst may borrow from the
        // next millisecond rather than repeat.
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = if candidate > prev {
                candidate
            } else {
                prev + 1
            };
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return EventRef((next & (i64::MAX as u64)) as i64),
                Err(p) => prev = p,
            }
        }
    }
}

/// One verdict, as logged.
///
/// `host` and `url` are bytes: a DNS name may be any bytes, and a logged URL
/// is hostile input that must come back exactly as it went in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEvent {
    pub reference: EventRef,
    /// Microseconds since the Unix epoch, UTC.
    pub time_us: i64,
    pub site: Option<String>,
    pub device: Option<String>,
    pub client_ip: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub protocol: Protocol,
    pub host: Vec<u8>,
    pub url: Option<Vec<u8>>,
    /// Search terms taken from a search engine's URL.
    pub search: Option<String>,
    /// `allow`, `block` or `safesearch`.
    pub action: String,
    pub categories: Vec<String>,
    pub rule: String,
    /// Identical lookups folded into this one (1 when not folded).
    pub count: u32,
    /// A main-frame page view: a browser asked for a document to show, not
    /// an asset, a frame or a lookup. Reports count these as visits.
    pub page_view: bool,
}

/// An event as journals written before `page_view` hold it.
#[derive(Deserialize)]
pub(crate) struct AccessEventV1 {
    reference: EventRef,
    time_us: i64,
    site: Option<String>,
    device: Option<String>,
    client_ip: String,
    user: Option<String>,
    group: Option<String>,
    protocol: Protocol,
    host: Vec<u8>,
    url: Option<Vec<u8>>,
    search: Option<String>,
    action: String,
    categories: Vec<String>,
    rule: String,
    count: u32,
}

impl From<AccessEventV1> for AccessEvent {
    fn from(v: AccessEventV1) -> AccessEvent {
        AccessEvent {
            reference: v.reference,
            time_us: v.time_us,
            site: v.site,
            device: v.device,
            client_ip: v.client_ip,
            user: v.user,
            group: v.group,
            protocol: v.protocol,
            host: v.host,
            url: v.url,
            search: v.search,
            action: v.action,
            categories: v.categories,
            rule: v.rule,
            count: v.count,
            page_view: false,
        }
    }
}

impl AccessEvent {
    /// Host and URL are bytes; JSON gets them as text with bad bytes replaced,
    /// and the exact bytes in hex alongside when they are not UTF-8.
    pub fn to_json(&self) -> serde_json::Value {
        let e = self;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let hex = |b: &[u8]| -> Option<String> {
            std::str::from_utf8(b)
                .is_err()
                .then(|| b.iter().map(|x| format!("{x:02x}")).collect())
        };
        serde_json::json!({
            "reference": e.reference.to_string(),
            "time": jiff::Timestamp::from_microsecond(e.time_us).map(|t| t.to_string()).unwrap_or_default(),
            "site": e.site,
            "device": e.device,
            "client_ip": e.client_ip,
            "user": e.user,
            "group": e.group,
            "protocol": e.protocol.as_str(),
            "host": text(&e.host),
            "host_hex": hex(&e.host),
            "url": e.url.as_deref().map(text),
            "url_hex": e.url.as_deref().and_then(hex),
            "search": e.search,
            "action": e.action,
            "categories": e.categories,
            "rule": e.rule,
            "count": e.count,
            "page_view": e.page_view,
        })
    }

    pub fn is_blocked(&self) -> bool {
        self.action == "block"
    }

    /// The UTC day this event is filed under (`YYYYMMDD`).
    pub fn day(&self) -> Option<i32> {
        day_of(self.time_us)
    }
}

/// The UTC day of a time, as `YYYYMMDD`.
pub fn day_of(time_us: i64) -> Option<i32> {
    let ts = jiff::Timestamp::from_microsecond(time_us).ok()?;
    let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    Some(d.year() as i32 * 10_000 + d.month() as i32 * 100 + d.day() as i32)
}

/// Search terms from a search engine's URL, if `host` is one.
///
/// Covers Google (any country), Bing, DuckDuckGo, YouTube, Yahoo, Ecosia,
/// Startpage, Brave Search, Yandex, Baidu and Wikipedia's search. The terms
/// are percent-decoded and `+` becomes a space; bytes that are not UTF-8 are
/// replaced, and NULs dropped, so the text is safe in any column. The raw
/// URL keeps the exact bytes.
pub fn search_terms(host: &str, path_and_query: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let (path, query) = path_and_query.split_once('?')?;
    let base = host.strip_prefix("www.").unwrap_or(&host);
    let base = base.strip_prefix("m.").unwrap_or(base);
    let key = if base.starts_with("google.") && (path.starts_with("/search") || path == "/") {
        "q"
    } else {
        match (base, path) {
            ("bing.com", p)
                if p.starts_with("/search")
                    || p.starts_with("/images")
                    || p.starts_with("/videos") =>
            {
                "q"
            }
            ("duckduckgo.com", _)
            | ("html.duckduckgo.com", _)
            | ("ecosia.org", _)
            | ("startpage.com", _) => "q",
            ("search.brave.com", _) => "q",
            ("youtube.com", "/results") => "search_query",
            ("search.yahoo.com", _) => "p",
            ("yandex.com", _) | ("yandex.ru", _) => "text",
            ("baidu.com", "/s") => "wd",
            (h, "/w/index.php") if h.ends_with("wikipedia.org") => "search",
            _ => return None,
        }
    };
    let fragment_free = query.split('#').next().unwrap_or(query);
    for pair in fragment_free.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            let plus_as_space = v.replace('+', " ");
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus_as_space).collect();
            let text: String = String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| *c != '\0')
                .collect();
            let text = text.trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_increase() {
        let g = RefGenerator::default();
        let now = jiff::Timestamp::now().as_microsecond();
        let a = g.next(now);
        let b = g.next(now);
        assert!(b > a);
        let text = a.to_string();
        assert_eq!(text.len(), 13);
        assert_eq!(text.parse::<EventRef>().unwrap(), a);
        assert_eq!(text.to_lowercase().parse::<EventRef>().unwrap(), a);
        assert!("short".parse::<EventRef>().is_err());
        assert!("UUUUUUUUUUUUU".parse::<EventRef>().is_err());
    }

    #[test]
    fn search_terms_from_engines() {
        assert_eq!(
            search_terms("www.google.co.uk", "/search?q=how+to+self%20harm&hl=en").as_deref(),
            Some("how to self harm")
        );
        assert_eq!(
            search_terms("www.bing.com", "/search?form=x&q=bath+bomb").as_deref(),
            Some("bath bomb")
        );
        assert_eq!(
            search_terms("duckduckgo.com", "/?q=%E2%9C%93+ok").as_deref(),
            Some("✓ ok")
        );
        assert_eq!(
            search_terms("www.youtube.com", "/results?search_query=cut+my+hair").as_deref(),
            Some("cut my hair")
        );
        assert_eq!(
            search_terms("en.wikipedia.org", "/w/index.php?search=isis").as_deref(),
            Some("isis")
        );
        assert_eq!(search_terms("example.com", "/search?q=x"), None);
        assert_eq!(search_terms("www.google.com", "/maps?q=x"), None);
        assert_eq!(search_terms("www.google.com", "/search?q="), None);
        // NULs and broken UTF-8 do not reach the text.
        assert_eq!(
            search_terms("www.bing.com", "/search?q=a%00b%FF").as_deref(),
            Some("ab\u{fffd}")
        );
    }

    #[test]
    fn days() {
        assert_eq!(day_of(0), Some(19_700_101));
        let t = "2026-12-01T23:59:59Z".parse::<jiff::Timestamp>().unwrap();
        assert_eq!(day_of(t.as_microsecond()), Some(20_261_201));
    }
}
