//! Search engines whose safe mode can be forced by name.

use crate::config::{SafeSearchConfig, SafeSearchMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngine {
    Google,
    Bing,
    DuckDuckGo,
    YouTube,
}

/// How to force an engine into its safe mode: answer for its host with a
/// CNAME to `safe_host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SafeSearch {
    pub engine: SearchEngine,
    pub safe_host: &'static str,
}

const YOUTUBE_HOSTS: &[&str] = &[
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
];

/// The engine `host` belongs to, if any.
pub fn engine_of(host: &str) -> Option<SearchEngine> {
    // This runs on every allowed request: reject by the first label first.
    let first = host.split('.').next().unwrap_or(host);
    if !matches!(
        first,
        "www" | "m" | "google" | "bing" | "duckduckgo" | "youtube" | "youtubei" | "start" | "html"
    ) {
        return None;
    }
    if host.contains("youtube") {
        return YOUTUBE_HOSTS
            .contains(&host)
            .then_some(SearchEngine::YouTube);
    }
    match host {
        "bing.com" | "www.bing.com" => return Some(SearchEngine::Bing),
        "duckduckgo.com"
        | "www.duckduckgo.com"
        | "start.duckduckgo.com"
        | "html.duckduckgo.com" => return Some(SearchEngine::DuckDuckGo),
        _ => {}
    }
    let rest = host.strip_prefix("www.").unwrap_or(host);
    let suffix = rest.strip_prefix("google.")?;
    // google.<any ICANN public suffix>: google.com, google.co.uk, google.fr…
    let is_icann_suffix = psl::suffix(suffix.as_bytes())
        .is_some_and(|s| s.as_bytes() == suffix.as_bytes() && s.typ() == Some(psl::Type::Icann));
    is_icann_suffix.then_some(SearchEngine::Google)
}

/// What `config` asks for `engine`, if anything.
pub fn enforce(config: &SafeSearchConfig, engine: SearchEngine) -> Option<SafeSearch> {
    let mode = match engine {
        SearchEngine::Google => config.google,
        SearchEngine::Bing => config.bing,
        SearchEngine::DuckDuckGo => config.duckduckgo,
        SearchEngine::YouTube => config.youtube,
    };
    let safe_host = match (engine, mode) {
        (_, SafeSearchMode::Off) => return None,
        (SearchEngine::Google, _) => "forcesafesearch.google.com",
        (SearchEngine::Bing, _) => "strict.bing.com",
        (SearchEngine::DuckDuckGo, _) => "safe.duckduckgo.com",
        (SearchEngine::YouTube, SafeSearchMode::Strict) => "restrict.youtube.com",
        (SearchEngine::YouTube, SafeSearchMode::Moderate) => "restrictmoderate.youtube.com",
    };
    Some(SafeSearch { engine, safe_host })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines() {
        assert_eq!(engine_of("www.google.co.uk"), Some(SearchEngine::Google));
        assert_eq!(engine_of("google.com"), Some(SearchEngine::Google));
        assert_eq!(engine_of("google.fr"), Some(SearchEngine::Google));
        assert_eq!(engine_of("google.blogspot.com"), None);
        assert_eq!(engine_of("google.evil.com"), None);
        assert_eq!(engine_of("mail.google.com"), None);
        assert_eq!(engine_of("www.bing.com"), Some(SearchEngine::Bing));
        assert_eq!(engine_of("m.youtube.com"), Some(SearchEngine::YouTube));
        assert_eq!(engine_of("notyoutube.com"), None);
        assert_eq!(engine_of("duckduckgo.com"), Some(SearchEngine::DuckDuckGo));
    }
}
