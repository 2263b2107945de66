//! Category lists: reading every list format Tutela accepts and compiling
//! them into one immutable, compact [`Index`].
//!
//! This crate owns list formats (UT1 folder trees, hosts files, plain domain
//! lists, adblock `||domain^` rules, URL prefixes, regular expressions), the
//! canonical form of host names ([`name`]), fetching lists with a cache of
//! last good copies ([`fetch`]), and the index that maps a host (and path) to
//! the categories that cover it. It knows nothing of groups or policy.

pub mod category;
pub mod fetch;
pub mod format;
pub mod index;
pub mod name;
pub mod source;
pub mod table;

use std::time::Instant;

pub use category::{Categories, CategoryId, CategoryInfo, CategoryMask, Usage};
pub use format::Format;
pub use index::{Entry, Hit, HostKey, Index, IndexBuilder, Matches};
pub use name::{normalize_path, HostName, NameError};
pub use source::{LoadOptions, SourceConfig, SourceReport, SourceStatus};

/// What one compile of many sources produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    pub sources: Vec<SourceReport>,
    /// Distinct domain and IP names the lists gave.
    pub listed_domains: usize,
    /// Of those, the entries the index stores: names a parent domain
    /// already covers with the same categories are dropped.
    pub domain_entries: usize,
    pub url_prefixes: usize,
    /// Bytes held by the domain table (slots and text).
    pub domain_table_bytes: usize,
    pub elapsed_ms: u64,
}

impl LoadReport {
    pub fn malformed(&self) -> u64 {
        self.sources.iter().map(|s| s.malformed).sum()
    }

    /// Sources that loaded nothing at all.
    pub fn failed(&self) -> impl Iterator<Item = &SourceReport> {
        self.sources
            .iter()
            .filter(|s| matches!(s.status, SourceStatus::Failed { .. }))
    }
}

/// Reads `sources` and compiles them into one index. Never fails as a whole:
/// each source's trouble is in its report, and a failed source falls back to
/// its last good copy where the cache has one.
pub fn compile(sources: &[SourceConfig], options: &LoadOptions) -> (Index, LoadReport) {
    let started = Instant::now();
    let expected = sources.iter().map(estimate_entries).sum();
    let mut builder = IndexBuilder::new(expected);
    let reports = source::load_sources(sources, &mut builder, options);
    let index = builder.finish();
    let report = LoadReport {
        sources: reports,
        listed_domains: index.listed_domain_count(),
        domain_entries: index.domain_count(),
        url_prefixes: index.url_prefix_count(),
        domain_table_bytes: index.domain_table_bytes(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    (index, report)
}

/// A guess at a source's entry count from its size, so the table is sized
/// once instead of growing by doubling.
fn estimate_entries(source: &SourceConfig) -> usize {
    match &source.path {
        Some(p) if p.is_file() => std::fs::metadata(p)
            .map(|m| (m.len() / 20) as usize)
            .unwrap_or(0),
        _ => 0,
    }
}
