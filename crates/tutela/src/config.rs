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
    pub store: Store,
    /// The DNS filter; it listens on `listeners.dns` (UDP and TCP).
    pub dns: tutela_dns::DnsSettings,
    /// The filtering proxy; it listens on `listeners.proxy`.
    pub proxy: tutela_proxy::ProxySettings,
    /// The web console; it listens on `listeners.console`.
    pub console: ConsoleSettings,
    /// The safeguarding monitor: what it scans and whom it alerts.
    pub monitor: tutela_alerts::MonitorSettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Session cookies carry `Secure`. Browsers accept that over plain HTTP
    /// only on loopback; serve the console over HTTPS (a reverse proxy)
    /// when it listens on the network. Turn off only to test on a LAN.
    pub secure_cookies: bool,
    /// How often approved unblocks whose reversion date has come are
    /// marked reverted (the policy stops allowing them on the dot anyway).
    pub revert_check: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            secure_cookies: true,
            revert_check: "15s".into(),
        }
    }
}

/// Where access events and records are kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// Empty: embedded SQLite at `<data_dir>/tutela.db`. Otherwise a
    /// `postgres://` URL, for a trust whose sites share one database.
    pub database_url: String,
    /// PostgreSQL schema for Tutela's tables (empty: the server's default).
    pub schema: String,
    /// Days of access events kept; older days are dropped whole.
    pub retention_days: u32,
    /// The longest an event waits before it is written; `kill -9` loses at
    /// most this much.
    pub flush_interval: String,
    /// Fold identical allowed DNS lookups by one client within this window
    /// into one event with a count (`0s`: never). Blocks never fold.
    pub fold_window: String,
    /// Events queued in memory before they spill to the journal on disk.
    pub queue_capacity: usize,
    /// Events per database write, at most.
    pub batch_size: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            database_url: String::new(),
            schema: String::new(),
            retention_days: 90,
            flush_interval: "250ms".into(),
            fold_window: "0s".into(),
            queue_capacity: 100_000,
            batch_size: 50_000,
        }
    }
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
            store: Store::default(),
            dns: tutela_dns::DnsSettings::default(),
            proxy: tutela_proxy::ProxySettings::default(),
            console: ConsoleSettings::default(),
            monitor: tutela_alerts::MonitorSettings::default(),
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

/// `250ms`, `90s`, `30m`, `24h`, `7d`; never zero.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let d = parse_duration_or_zero(text)?;
    if d.is_zero() {
        bail!("a duration of zero in `{}`", text.trim());
    }
    Ok(d)
}

/// As [`parse_duration`], but `0s` is allowed (to switch a feature off).
pub fn parse_duration_or_zero(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 30m or 24h"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n * 1_000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        other => bail!("unknown unit `{other}` in `{text}` (use ms, s, m, h or d)"),
    };
    Ok(Duration::from_millis(ms))
}

impl Config {
    /// The DNS filter's settings with their durations read.
    pub fn dns_options(&self) -> Result<(tutela_dns::FilterOptions, std::time::Duration)> {
        let d = &self.dns;
        let serve_stale = parse_duration_or_zero(&d.serve_stale)
            .with_context(|| format!("dns.serve_stale = {:?}", d.serve_stale))?;
        let upstream_timeout = parse_duration(&d.upstream_timeout)
            .with_context(|| format!("dns.upstream_timeout = {:?}", d.upstream_timeout))?;
        let options = tutela_dns::FilterOptions {
            allowed_clients: d.allowed_clients.clone(),
            block_page_ipv4: d.block_page_ipv4,
            block_page_ipv6: d.block_page_ipv6,
            cache_entries: d.cache_entries,
            serve_stale,
            client_rate_limit: d.client_rate_limit,
            strip_ech: d.strip_ech,
        };
        Ok((options, upstream_timeout))
    }

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
        self.writer_config()?;
        if self.store.batch_size == 0 || self.store.queue_capacity == 0 {
            bail!("store.batch_size and store.queue_capacity must be above zero");
        }
        self.dns_options()?;
        self.proxy_options()?;
        if self.dns.upstreams.is_empty() {
            bail!("dns.upstreams: at least one upstream resolver is needed");
        }
        for (i, u) in self.dns.upstreams.iter().enumerate() {
            tutela_dns::UpstreamSpec::parse(u).with_context(|| format!("dns.upstreams[{i}]"))?;
        }
        if self.dns.certificate.is_some() != self.dns.key.is_some() {
            bail!("dns.certificate and dns.key go together");
        }
        if (self.dns.tls_listen.is_some() || self.dns.https_listen.is_some())
            && self.dns.certificate.is_none()
        {
            bail!("dns.tls_listen and dns.https_listen need dns.certificate and dns.key");
        }
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
        for p in [
            &mut self.dns.certificate,
            &mut self.dns.key,
            &mut self.dns.upstream_ca,
            &mut self.proxy.origin_ca,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for s in self.lists.sources.iter_mut().chain(self.illegal.iter_mut()) {
            if let Some(p) = s.path.as_mut() {
                fix(p);
            }
        }
    }

    /// The database to use.
    pub fn store_config(&self) -> tutela_store::StoreConfig {
        if self.store.database_url.is_empty() {
            tutela_store::StoreConfig::Sqlite(self.data_dir.join("tutela.db"))
        } else {
            tutela_store::StoreConfig::Postgres {
                url: self.store.database_url.clone(),
                schema: (!self.store.schema.is_empty()).then(|| self.store.schema.clone()),
            }
        }
    }

    pub fn writer_config(&self) -> Result<tutela_store::WriterConfig> {
        Ok(tutela_store::WriterConfig {
            batch_size: self.store.batch_size,
            flush_interval: parse_duration(&self.store.flush_interval).with_context(|| {
                format!("store.flush_interval = {:?}", self.store.flush_interval)
            })?,
            queue_capacity: self.store.queue_capacity,
            fold_window: parse_duration_or_zero(&self.store.fold_window)
                .with_context(|| format!("store.fold_window = {:?}", self.store.fold_window))?,
            retention_days: self.store.retention_days,
            ..tutela_store::WriterConfig::new(self.data_dir.join("journal"))
        })
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
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration_or_zero("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
