//! Builds a policy snapshot from the configuration: lists, illegal tier and
//! groups together.

use std::sync::Arc;

use anyhow::{Context, Result};
use tutela_lists::{LoadOptions, LoadReport};
use tutela_policy::Snapshot;

use crate::config::Config;

/// A snapshot and what loading its lists found.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub lists: LoadReport,
    pub illegal: LoadReport,
}

/// How a load may reach the network and the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read local lists and cached copies; never fetch or write. For
    /// one-off commands such as `tutela check`.
    ReadOnly,
    /// Read the cache only, but keep last good copies of local lists. For a
    /// quick start before the first fetch.
    Cached,
    /// Fetch URL sources, and keep last good copies in the data directory.
    Refresh,
}

pub fn load(config: &Config, mode: Mode) -> Result<Loaded> {
    let cache = config.list_cache();
    if mode != Mode::ReadOnly {
        std::fs::create_dir_all(&cache)
            .with_context(|| format!("cannot create list cache {}", cache.display()))?;
    }
    let options = LoadOptions {
        cache_dir: Some(cache),
        fetch: mode == Mode::Refresh,
        fetch_timeout: Some(config.lists.fetch_timeout()?),
        read_only: mode == Mode::ReadOnly,
    };
    let (index, lists) = tutela_lists::compile(&config.lists.sources, &options);
    let (illegal, illegal_report) = tutela_lists::compile(&config.illegal, &options);

    let snapshot = Snapshot::build(&config.policy, Arc::new(index), Arc::new(illegal))
        .context("bad [policy] section")?;
    for warning in snapshot.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(Loaded {
        snapshot,
        lists,
        illegal: illegal_report,
    })
}
