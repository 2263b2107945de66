//! The configuration file: one TOML file, every key with a default.
//!
//! `tutela.example.toml` at the top of the repository documents every key
//! and is embedded in the binary (`tutela config example`); a test keeps it
//! equal to [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tutela_lists::SourceConfig;
use tutela_policy::PolicyConfig;

/// The documented example configuration, equal to the defaults.
pub const EXAMPLE: &str = include_str!("../../../tutela.example.toml");

/// UT1's daily tarball, the default category source.
pub const UT1_URL: &str = "https://dsi.ut-capitole.fr/blacklists/download/blacklists.tar.gz";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the store, the list cache and last good copies live.
    pub data_dir: PathBuf,
    pub listeners: Listeners,
    pub lists: Lists,
    /// Illegal-content tier sources (IWF, CTIRU). Nothing can allow what
    /// they list.
    pub illegal: Vec<SourceConfig>,
    pub policy: PolicyConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listeners {
    pub dns: SocketAddr,
    pub proxy: SocketAddr,
    pub console: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lists {
    /// How often URL sources are fetched again (`24h`, `30m`).
    pub refresh: String,
    /// How long one fetch may take.
    pub fetch_timeout: String,
    pub sources: Vec<SourceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("tutela-data"),
            listeners: Listeners::default(),
            lists: Lists::default(),
            illegal: Vec::new(),
            policy: PolicyConfig::default(),
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            dns: SocketAddr::from(([127, 0, 0, 1], 5353)),
            proxy: SocketAddr::from(([127, 0, 0, 1], 3128)),
            console: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for Lists {
    fn default() -> Self {
        Lists {
            refresh: "24h".into(),
            fetch_timeout: "10m".into(),
            sources: vec![SourceConfig {
                name: "ut1".into(),
                path: None,
                url: Some(UT1_URL.into()),
                format: Some(tutela_lists::Format::Ut1),
                category: None,
                categories: None,
                allow_public_suffix_entries: false,
            }],
        }
    }
}

impl Lists {
    pub fn refresh_interval(&self) -> Result<Duration> {
        parse_duration(&self.refresh).with_context(|| format!("lists.refresh = {:?}", self.refresh))
    }

    pub fn fetch_timeout(&self) -> Result<Duration> {
        parse_duration(&self.fetch_timeout)
            .with_context(|| format!("lists.fetch_timeout = {:?}", self.fetch_timeout))
    }
}

/// `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 30m or 24h"))?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => bail!("unknown unit `{other}` in `{text}` (use s, m, h or d)"),
    };
    if secs == 0 {
        bail!("a duration of zero in `{text}`");
    }
    Ok(Duration::from_secs(secs))
}

impl Config {
    /// Reads `path`, or returns the defaults when there is none. Relative
    /// paths in the file are taken from the file's own folder.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("bad config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and checks config text. The error names the key and the line.
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.lists.refresh_interval()?;
        self.lists.fetch_timeout()?;
        let mut names = std::collections::HashSet::new();
        for (section, sources) in [
            ("lists.sources", &self.lists.sources),
            ("illegal", &self.illegal),
        ] {
            for (i, s) in sources.iter().enumerate() {
                s.validate().with_context(|| format!("{section}[{i}]"))?;
                if !names.insert(s.name.as_str()) {
                    bail!("{section}[{i}]: a second source named `{}`", s.name);
                }
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        for s in self.lists.sources.iter_mut().chain(self.illegal.iter_mut()) {
            if let Some(p) = s.path.as_mut() {
                fix(p);
            }
        }
    }

    /// Where list copies are cached.
    pub fn list_cache(&self) -> PathBuf {
        self.data_dir.join("lists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_is_the_defaults() {
        assert_eq!(Config::parse(EXAMPLE).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = format!(
            "{:#}",
            Config::parse("data_dir = \"x\"\n\n[lists]\nrefesh = \"1h\"\n").unwrap_err()
        );
        assert!(e.contains("line 4") && e.contains("refesh"), "{e}");
        let e = format!(
            "{:#}",
            Config::parse("[listeners]\ndns = \"nonsense\"\n").unwrap_err()
        );
        assert!(e.contains("line 2") && e.contains("dns"), "{e}");
        let e = format!(
            "{:#}",
            Config::parse("[policy.groups.pupils]\nwalled_garden = \"yes\"\n").unwrap_err()
        );
        assert!(e.contains("line 2") && e.contains("walled_garden"), "{e}");
        let e = format!(
            "{:#}",
            Config::parse("[lists]\nrefresh = \"soon\"\n").unwrap_err()
        );
        assert!(e.contains("lists.refresh"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
