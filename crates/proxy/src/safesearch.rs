//! Safe search inside HTTP: the parameter or header each engine honours,
//! for requests the proxy can read (plain HTTP, or inspected HTTPS). DNS
//! does the same job by name for everything else.

use http::{HeaderMap, HeaderValue};
use tutela_policy::{SafeSearch, SearchEngine};

/// The header YouTube reads to restrict content.
pub const YOUTUBE_RESTRICT: &str = "youtube-restrict";

/// Rewrites `path_and_query` and `headers` so the engine serves only safe
/// results. Returns the new path and query.
pub fn enforce(safe: &SafeSearch, path_and_query: &str, headers: &mut HeaderMap) -> String {
    let (key, value) = match safe.engine {
        SearchEngine::Google => ("safe", "active"),
        SearchEngine::Bing => ("adlt", "strict"),
        SearchEngine::DuckDuckGo => ("kp", "1"),
        SearchEngine::YouTube => {
            let level = if safe.safe_host.starts_with("restrictmoderate") {
                "Moderate"
            } else {
                "Strict"
            };
            headers.insert(YOUTUBE_RESTRICT, HeaderValue::from_static(level));
            return path_and_query.to_string();
        }
    };
    set_query_param(path_and_query, key, value)
}

/// `path?query` with every `key=` pair replaced by one `key=value`. A
/// pair counts as `key` however its name is spelt to a server that decodes
/// it (`SAFE`, `s%61fe`), so no other spelling of the switch survives.
fn set_query_param(path_and_query: &str, key: &str, value: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut out = String::with_capacity(path_and_query.len() + key.len() + value.len() + 2);
    out.push_str(path);
    out.push('?');
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !names_the_same(name, key) {
            out.push_str(pair);
            out.push('&');
        }
    }
    out.push_str(key);
    out.push('=');
    out.push_str(value);
    out
}

/// Whether the query parameter name `name`, percent-decoded with `+` as a
/// space, is `key` in any case.
fn names_the_same(name: &str, key: &str) -> bool {
    if !name.contains(['%', '+']) {
        return name.eq_ignore_ascii_case(key);
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(&name.replace('+', " ")).collect();
    decoded.eq_ignore_ascii_case(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(engine: SearchEngine, host: &'static str) -> SafeSearch {
        SafeSearch {
            engine,
            safe_host: host,
        }
    }

    #[test]
    fn each_engine_gets_its_own_switch() {
        let mut h = HeaderMap::new();
        let g = safe(SearchEngine::Google, "forcesafesearch.google.com");
        assert_eq!(
            enforce(&g, "/search?q=cats&safe=off&SAFE=images", &mut h),
            "/search?q=cats&safe=active"
        );
        assert_eq!(enforce(&g, "/", &mut h), "/?safe=active");
        let b = safe(SearchEngine::Bing, "strict.bing.com");
        assert_eq!(
            enforce(&b, "/search?q=x&adlt=off", &mut h),
            "/search?q=x&adlt=strict"
        );
        let d = safe(SearchEngine::DuckDuckGo, "safe.duckduckgo.com");
        assert_eq!(enforce(&d, "/?q=x&kp=-2", &mut h), "/?q=x&kp=1");
        assert!(h.is_empty());
        let y = safe(SearchEngine::YouTube, "restrictmoderate.youtube.com");
        assert_eq!(
            enforce(&y, "/results?search_query=x", &mut h),
            "/results?search_query=x"
        );
        assert_eq!(h[YOUTUBE_RESTRICT], "Moderate");
        let y = safe(SearchEngine::YouTube, "restrict.youtube.com");
        enforce(&y, "/", &mut h);
        assert_eq!(h[YOUTUBE_RESTRICT], "Strict");
    }

    /// Found by the `url` fuzz target: a percent-encoded name is the same
    /// parameter to the engine, and an earlier `safe=off` spelt so would
    /// have stayed in front of the forced one.
    #[test]
    fn every_spelling_of_the_switch_is_replaced() {
        let mut h = HeaderMap::new();
        let g = safe(SearchEngine::Google, "forcesafesearch.google.com");
        assert_eq!(
            enforce(&g, "/search?s%61fe=off&q=x&%73AFE=images&safe%2B=x", &mut h),
            "/search?q=x&safe%2B=x&safe=active"
        );
        let b = safe(SearchEngine::Bing, "strict.bing.com");
        assert_eq!(
            enforce(&b, "/search?%61dlt=off&q=a+b", &mut h),
            "/search?q=a+b&adlt=strict"
        );
    }
}
