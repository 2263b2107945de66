//! List sources: where a list comes from, reading it into an
//! [`IndexBuilder`], and the report of what was read.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::category::{CategoryId, Usage};
use crate::fetch::{self, Cache};
use crate::format::{parse_line, Format, Line};
use crate::index::IndexBuilder;
use crate::name::{is_public_suffix, HostName};

/// One configured list source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A short unique name; also the cache folder's name.
    pub name: String,
    /// A local file or UT1 folder.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An `http(s)://` URL of a plain list or a UT1 `.tar.gz`.
    #[serde(default)]
    pub url: Option<String>,
    /// Defaults to `ut1` for folders and `.tar.gz` URLs, else `domains`.
    #[serde(default)]
    pub format: Option<Format>,
    /// The category every entry of a flat list belongs to.
    #[serde(default)]
    pub category: Option<String>,
    /// For UT1: load only these categories (all when absent).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Keep entries that are a single label or an ICANN public suffix
    /// (`com`, `co.uk`). Off by default: such entries block whole TLDs.
    #[serde(default)]
    pub allow_public_suffix_entries: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source `{0}` needs exactly one of `path` or `url`")]
    Location(String),
    #[error("source `{0}` is a flat list and needs `category`")]
    NoCategory(String),
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a UT1 folder (no category folders found)", .0.display())]
    NotUt1(PathBuf),
    #[error("fetch failed: {0}")]
    Fetch(#[from] fetch::FetchError),
    #[error("the list yielded no entries")]
    Empty,
    #[error(transparent)]
    Categories(#[from] crate::category::TooManyCategories),
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
}

impl SourceConfig {
    pub fn format(&self) -> Format {
        if let Some(f) = self.format {
            return f;
        }
        match (&self.path, &self.url) {
            (Some(p), _) if p.is_dir() => Format::Ut1,
            (_, Some(u)) if u.ends_with(".tar.gz") || u.ends_with(".tgz") => Format::Ut1,
            _ => Format::Domains,
        }
    }

    /// Checks what can be checked without reading the list.
    pub fn validate(&self) -> Result<(), SourceError> {
        if self.path.is_some() == self.url.is_some() {
            return Err(SourceError::Location(self.name.clone()));
        }
        if self.format() != Format::Ut1 && self.category.is_none() {
            return Err(SourceError::NoCategory(self.name.clone()));
        }
        Ok(())
    }

    fn location(&self) -> String {
        match (&self.path, &self.url) {
            (Some(p), _) => p.display().to_string(),
            (_, Some(u)) => u.clone(),
            _ => String::new(),
        }
    }
}

/// One line that could not be used.
#[derive(Debug, Clone, Serialize)]
pub struct Malformed {
    pub file: String,
    pub line: u64,
    pub reason: String,
    pub text: String,
}

/// How a source's load ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SourceStatus {
    /// Read fresh.
    Loaded,
    /// The fresh copy failed or was empty; the last good copy was used.
    LastGood { reason: String },
    /// Nothing usable: no fresh copy and no last good copy.
    Failed { reason: String },
}

/// Entry counts of one category within one source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub domains: u64,
    pub url_prefixes: u64,
    pub expressions: u64,
}

/// What loading one source found.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub name: String,
    pub location: String,
    #[serde(flatten)]
    pub status: SourceStatus,
    pub categories: Vec<CategoryCount>,
    pub malformed: u64,
    /// The first few malformed lines, with file and line number.
    pub malformed_examples: Vec<Malformed>,
    /// Single-label and public-suffix entries left out.
    pub skipped_public_suffix: u64,
    pub skipped_examples: Vec<String>,
    /// Rules of a kind Tutela does not apply (cosmetic adblock rules).
    pub unsupported: u64,
    pub elapsed_ms: u64,
}

const EXAMPLES: usize = 10;

impl SourceReport {
    fn new(source: &SourceConfig) -> Self {
        SourceReport {
            name: source.name.clone(),
            location: source.location(),
            status: SourceStatus::Loaded,
            categories: Vec::new(),
            malformed: 0,
            malformed_examples: Vec::new(),
            skipped_public_suffix: 0,
            skipped_examples: Vec::new(),
            unsupported: 0,
            elapsed_ms: 0,
        }
    }

    fn malformed(&mut self, file: &Path, line: u64, reason: String, text: &str) {
        self.malformed += 1;
        if self.malformed_examples.len() < EXAMPLES {
            let text: String = text.chars().take(200).collect();
            self.malformed_examples.push(Malformed {
                file: file.display().to_string(),
                line,
                reason,
                text,
            });
        }
    }

    pub fn entries(&self) -> u64 {
        self.categories
            .iter()
            .map(|c| c.domains + c.url_prefixes + c.expressions)
            .sum()
    }

    fn count_mut(&mut self, category: &str) -> &mut CategoryCount {
        let i = match self.categories.iter().position(|c| c.category == category) {
            Some(i) => i,
            None => {
                self.categories.push(CategoryCount {
                    category: category.to_string(),
                    ..Default::default()
                });
                self.categories.len() - 1
            }
        };
        &mut self.categories[i]
    }
}

/// Settings for one load of many sources.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where fetched lists and last good copies live. Without it, URL sources
    /// cannot load and there is no last good copy to fall back on.
    pub cache_dir: Option<PathBuf>,
    /// Fetch URL sources over the network (else use only the cache).
    pub fetch: bool,
    pub fetch_timeout: Option<Duration>,
    /// Read the cache but never write it (one-off commands).
    pub read_only: bool,
}

/// Reads every source into `builder`. A source that fails falls back to its
/// last good copy; either way loading goes on with the next source.
pub fn load_sources(
    sources: &[SourceConfig],
    builder: &mut IndexBuilder,
    options: &LoadOptions,
) -> Vec<SourceReport> {
    let cache = options.cache_dir.as_ref().map(|d| Cache::new(d.clone()));
    sources
        .iter()
        .map(|s| load_one(s, builder, cache.as_ref(), options))
        .collect()
}

fn load_one(
    source: &SourceConfig,
    builder: &mut IndexBuilder,
    cache: Option<&Cache>,
    options: &LoadOptions,
) -> SourceReport {
    let started = Instant::now();
    let mut report = SourceReport::new(source);
    let fresh = load_fresh(source, builder, cache, options, &mut report);
    if let Err(e) = fresh {
        let not_fetched_yet = matches!(e, SourceError::Fetch(fetch::FetchError::NotFetched));
        let reason = e.to_string();
        let last_good = cache.and_then(|c| c.last_good(&source.name));
        let fallback = match last_good {
            Some(path) => {
                let mut again = SourceReport::new(source);
                match read_path(source, &path, builder, &mut again) {
                    Ok(()) if again.entries() > 0 => Some(again),
                    _ => None,
                }
            }
            None => None,
        };
        match fallback {
            Some(again) => {
                tracing::warn!(source = %source.name, %reason, "list source failed; using its last good copy");
                report = again;
                report.status = SourceStatus::LastGood { reason };
            }
            None if not_fetched_yet => {
                tracing::info!(source = %source.name, "list not fetched yet; its categories are empty until it is");
                report.status = SourceStatus::Failed { reason };
            }
            None => {
                tracing::error!(source = %source.name, %reason, "list source failed and has no last good copy; its categories are empty");
                report.status = SourceStatus::Failed { reason };
            }
        }
    }
    if report.skipped_public_suffix > 0 {
        tracing::warn!(
            source = %source.name,
            skipped = report.skipped_public_suffix,
            examples = %report.skipped_examples.join("; "),
            "skipped single-label and public-suffix entries: each would cover a whole top-level domain (allow_public_suffix_entries keeps them)"
        );
    }
    if report.malformed > 0 {
        tracing::warn!(source = %source.name, malformed = report.malformed, "list has malformed lines; see `tutela lists stats`");
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

fn load_fresh(
    source: &SourceConfig,
    builder: &mut IndexBuilder,
    cache: Option<&Cache>,
    options: &LoadOptions,
    report: &mut SourceReport,
) -> Result<(), SourceError> {
    source.validate()?;
    match (&source.path, &source.url) {
        (Some(path), _) => {
            read_path(source, path, builder, report)?;
            if report.entries() == 0 {
                return Err(SourceError::Empty);
            }
            if let Some(cache) = cache.filter(|_| !options.read_only) {
                if let Err(e) = cache.remember_local(&source.name, path) {
                    tracing::warn!(source = %source.name, error = %e, "could not keep a last good copy of the list");
                }
            }
            Ok(())
        }
        (_, Some(url)) => {
            let cache = cache.ok_or(fetch::FetchError::NoCache)?;
            let candidate = if options.fetch && !options.read_only {
                cache.fetch(
                    &source.name,
                    url,
                    source.format() == Format::Ut1,
                    options.fetch_timeout,
                )?
            } else {
                cache
                    .last_good(&source.name)
                    .map(fetch::Candidate::Current)
                    .ok_or(fetch::FetchError::NotFetched)?
            };
            read_path(source, candidate.path(), builder, report)?;
            if report.entries() == 0 {
                candidate.discard();
                return Err(SourceError::Empty);
            }
            candidate.commit()?;
            Ok(())
        }
        _ => Err(SourceError::Location(source.name.clone())),
    }
}

fn read_path(
    source: &SourceConfig,
    path: &Path,
    builder: &mut IndexBuilder,
    report: &mut SourceReport,
) -> Result<(), SourceError> {
    if source.format() == Format::Ut1 {
        let root = fetch::ut1_root(path).ok_or_else(|| SourceError::NotUt1(path.to_path_buf()))?;
        read_ut1(source, &root, builder, report)
    } else {
        let category = source
            .category
            .as_deref()
            .ok_or_else(|| SourceError::NoCategory(source.name.clone()))?;
        let id = builder.categories_mut().intern(category, Usage::Black)?;
        read_file(source, source.format(), path, id, builder, report)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a UT1 tree: one folder per category, plus alias files (`porn`
/// holding the word `adult`) and `global_usage` for display names.
fn read_ut1(
    source: &SourceConfig,
    root: &Path,
    builder: &mut IndexBuilder,
    report: &mut SourceReport,
) -> Result<(), SourceError> {
    let mut dirs = Vec::new();
    let mut aliases = Vec::new();
    for entry in fs::read_dir(root).map_err(io_err(root))? {
        let entry = entry.map_err(io_err(root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            dirs.push((name, path));
        } else if entry.metadata().map(|m| m.len() < 64).unwrap_or(false) {
            if let Ok(target) = fs::read_to_string(&path) {
                let target = target.trim().to_string();
                if !target.is_empty()
                    && target
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    aliases.push((name, target));
                }
            }
        }
    }
    if dirs.is_empty() {
        return Err(SourceError::NotUt1(root.to_path_buf()));
    }
    dirs.sort();
    let wanted = |name: &str| {
        source
            .categories
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == name))
    };
    let described = read_global_usage(&root.join("global_usage"));
    // The three redirector folders are one list under three names: read it
    // once per name anyway, since a school may block only one of them.
    for (name, dir) in &dirs {
        if !wanted(name) {
            continue;
        }
        let usage = match fs::read_to_string(dir.join("usage")) {
            Ok(text) if text.lines().any(|l| l.trim() == "white") => Usage::White,
            _ => Usage::Black,
        };
        let id = builder.categories_mut().intern(name, usage)?;
        if let Some((display, desc)) = described
            .iter()
            .find(|d| d.0 == *name)
            .map(|d| (&d.1, &d.2))
        {
            if let Some(info) = builder.categories_mut().info_mut(id) {
                info.display_name = display.clone();
                info.description = desc.clone();
            }
        }
        report.count_mut(name);
        for (file, format) in [("domains", Format::Domains), ("urls", Format::Urls)] {
            let path = dir.join(file);
            if path.exists() {
                read_file(source, format, &path, id, builder, report)?;
            }
        }
        let path = dir.join("expressions");
        if path.exists() {
            read_expressions(&path, name, id, builder, report)?;
        }
    }
    for (alias, target) in aliases {
        if let Some(id) = builder.categories().get(&target) {
            builder.categories_mut().add_alias(&alias, id);
        }
    }
    Ok(())
}

/// (category, English display name, English description) per `NAME:` block.
fn read_global_usage(path: &Path) -> Vec<(String, Option<String>, Option<String>)> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut out: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("NAME:") {
            out.push((rest.trim().to_string(), None, None));
        } else if let Some(last) = out.last_mut() {
            if let Some(rest) = line.strip_prefix("NAME EN:") {
                last.1 = Some(rest.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("DESC EN:") {
                last.2 = Some(rest.trim().to_string());
            }
        }
    }
    out
}

fn read_expressions(
    path: &Path,
    category: &str,
    id: CategoryId,
    builder: &mut IndexBuilder,
    report: &mut SourceReport,
) -> Result<(), SourceError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = n as u64 + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            report.malformed(
                path,
                line_no,
                "not valid UTF-8".into(),
                &String::from_utf8_lossy(raw),
            );
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match builder.add_expression(line, id) {
            Ok(()) => report.count_mut(category).expressions += 1,
            Err(e) => report.malformed(path, line_no, format!("bad expression: {e}"), line),
        }
    }
    Ok(())
}

fn read_file(
    source: &SourceConfig,
    format: Format,
    path: &Path,
    id: CategoryId,
    builder: &mut IndexBuilder,
    report: &mut SourceReport,
) -> Result<(), SourceError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let category = builder.categories().name(id).to_string();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut raw = Vec::with_capacity(256);
    let mut line_no = 0u64;
    let (mut domains, mut urls) = (0u64, 0u64);
    loop {
        raw.clear();
        let n = reader
            .by_ref()
            .take(64 * 1024)
            .read_until(b'\n', &mut raw)
            .map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if raw.last() != Some(&b'\n') && n == 64 * 1024 {
            // An absurdly long line: skip the rest of it.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest).map_err(io_err(path))?;
            report.malformed(path, line_no, "line longer than 64 KiB".into(), "");
            continue;
        }
        let Ok(line) = std::str::from_utf8(&raw) else {
            report.malformed(
                path,
                line_no,
                "not valid UTF-8".into(),
                &String::from_utf8_lossy(&raw),
            );
            continue;
        };
        let parsed = match parse_line(format, line) {
            Ok(p) => p,
            Err(e) => {
                report.malformed(path, line_no, e.to_string(), line.trim_end());
                continue;
            }
        };
        let keep = |host: &HostName, report: &mut SourceReport| -> bool {
            if let HostName::Domain(d) = host {
                if !source.allow_public_suffix_entries && is_public_suffix(d) {
                    report.skipped_public_suffix += 1;
                    if report.skipped_examples.len() < EXAMPLES {
                        report
                            .skipped_examples
                            .push(format!("{}:{line_no}: {d}", path.display()));
                    }
                    return false;
                }
            }
            true
        };
        match parsed {
            Line::Nothing => {}
            Line::Unsupported => report.unsupported += 1,
            Line::Domain(host) => {
                if keep(&host, report) {
                    builder.add_domain(&host, id)?;
                    domains += 1;
                }
            }
            Line::Domains(hosts) => {
                for host in hosts {
                    if keep(&host, report) {
                        builder.add_domain(&host, id)?;
                        domains += 1;
                    }
                }
            }
            Line::Exception(host) => {
                builder.add_exception(&host, id)?;
                domains += 1;
            }
            Line::UrlPrefix(host, prefix) => {
                builder.add_url_prefix(&host, &prefix, id);
                urls += 1;
            }
        }
    }
    let count = report.count_mut(&category);
    count.domains += domains;
    count.url_prefixes += urls;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::HostKey;

    fn flat(name: &str, path: &Path, format: Format) -> SourceConfig {
        SourceConfig {
            name: name.into(),
            path: Some(path.to_path_buf()),
            url: None,
            format: Some(format),
            category: Some("test".into()),
            categories: None,
            allow_public_suffix_entries: false,
        }
    }

    #[test]
    fn dirty_list_loads_what_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list.txt");
        fs::write(
            &p,
            b"good.example\ncom\nco.uk\nbad name here\n\xff\xfe\n\nok.example # c\n",
        )
        .unwrap();
        let mut b = IndexBuilder::new(0);
        let reports = load_sources(
            &[flat("t", &p, Format::Domains)],
            &mut b,
            &LoadOptions::default(),
        );
        let r = &reports[0];
        assert_eq!(r.status, SourceStatus::Loaded);
        assert_eq!(r.entries(), 2);
        assert_eq!(r.skipped_public_suffix, 2);
        assert_eq!(r.malformed, 2);
        assert_eq!(r.malformed_examples[0].line, 4);
        assert_eq!(r.malformed_examples[1].line, 5);
        let ix = b.finish();
        assert!(ix.matches_host(HostKey::domain("www.good.example")));
        assert!(!ix.matches_host(HostKey::domain("anything.com")));
    }

    #[test]
    fn public_suffix_entries_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list.txt");
        fs::write(&p, "xxx\n").unwrap();
        let mut s = flat("t", &p, Format::Domains);
        s.allow_public_suffix_entries = true;
        let mut b = IndexBuilder::new(0);
        load_sources(&[s], &mut b, &LoadOptions::default());
        assert!(b.finish().matches_host(HostKey::domain("site.xxx")));
    }

    #[test]
    fn empty_or_missing_list_falls_back_to_last_good_copy() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let p = dir.path().join("list.txt");
        fs::write(&p, "good.example\n").unwrap();
        let s = flat("t", &p, Format::Domains);
        let options = LoadOptions {
            cache_dir: Some(cache),
            ..Default::default()
        };
        let r = load_sources(
            std::slice::from_ref(&s),
            &mut IndexBuilder::new(0),
            &options,
        );
        assert_eq!(r[0].status, SourceStatus::Loaded);

        fs::write(&p, "# emptied by a broken update\n").unwrap();
        let mut b = IndexBuilder::new(0);
        let r = load_sources(std::slice::from_ref(&s), &mut b, &options);
        assert!(
            matches!(r[0].status, SourceStatus::LastGood { .. }),
            "{:?}",
            r[0].status
        );
        assert!(b.finish().matches_host(HostKey::domain("good.example")));

        fs::remove_file(&p).unwrap();
        let mut b = IndexBuilder::new(0);
        let r = load_sources(std::slice::from_ref(&s), &mut b, &options);
        assert!(matches!(r[0].status, SourceStatus::LastGood { .. }));
        assert!(b.finish().matches_host(HostKey::domain("good.example")));

        // Without a cache there is nothing to fall back on, and it says so.
        let r = load_sources(&[s], &mut IndexBuilder::new(0), &LoadOptions::default());
        assert!(matches!(r[0].status, SourceStatus::Failed { .. }));
    }
}
