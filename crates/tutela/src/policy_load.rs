//! Builds a policy snapshot from the configuration: lists, illegal tier and
//! groups together.

use std::sync::Arc;

use anyhow::{Context, Result};
use tutela_lists::{LoadOptions, LoadReport};
use tutela_policy::config::{IdentityMapping, OverrideAction, OverrideConfig};
use tutela_policy::{AccountConfig, DeviceConfig, PolicyConfig, Snapshot};

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

    let policy = with_stored_policy(config);
    let snapshot = Snapshot::build(&policy, Arc::new(index), Arc::new(illegal))
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

/// A snapshot with the rules as they now stand (configuration and store)
/// over the lists `current` already holds: quick, for a change made in the
/// console.
pub fn rebuild(config: &Config, current: &Snapshot) -> Result<Snapshot> {
    let (index, illegal) = current.lists();
    let policy = with_stored_policy(config);
    Snapshot::build(&policy, index, illegal).context("bad [policy] section")
}

/// The configured policy plus what the console keeps in the store: group
/// policies (laid over the file's), subnet mappings, DoH devices, proxy
/// accounts and approved temporary unblocks. A stored row that names an unknown group, has a bad subnet or
/// repeats a configured token is skipped with a warning, so one bad row
/// never stops the policy loading; an unreachable store leaves the file's
/// mappings alone.
pub fn with_stored_policy(config: &Config) -> PolicyConfig {
    let mut policy = config.policy.clone();
    let store = config.store_config();
    if let tutela_store::StoreConfig::Sqlite(path) = &store {
        if !path.exists() {
            return policy;
        }
    }
    let now = jiff::Timestamp::now().as_microsecond();
    let stored = store.open().and_then(|mut db| {
        // A store from before the console has no unblock table yet.
        let unblocks = tutela_store::unblock::in_force(db.as_mut(), now).unwrap_or_else(|e| {
            tracing::debug!("no temporary unblocks read: {e}");
            Vec::new()
        });
        let groups = tutela_store::policies::list(db.as_mut()).unwrap_or_else(|e| {
            tracing::debug!("no stored group policies read: {e}");
            Vec::new()
        });
        Ok((db.identities()?, db.accounts()?, unblocks, groups))
    });
    let ((subnets, devices), accounts, unblocks) = match stored {
        Ok((identities, accounts, unblocks, groups)) => {
            // Groups first: stored mappings and unblocks may name them.
            tutela_store::policies::apply(groups, &mut policy);
            (identities, accounts, unblocks)
        }
        Err(e) => {
            tracing::warn!("identity mappings in the store are not available: {e}");
            return policy;
        }
    };
    for row in subnets {
        let Ok(subnet) = row.subnet.trim().parse::<ipnet::IpNet>().or_else(|_| {
            row.subnet
                .trim()
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
        }) else {
            tracing::warn!(subnet = %row.subnet, "stored identity mapping skipped: not a subnet");
            continue;
        };
        if !policy.groups.contains_key(&row.group) {
            tracing::warn!(%subnet, group = %row.group, "stored identity mapping skipped: no such group");
            continue;
        }
        policy.identities.push(IdentityMapping {
            subnet,
            group: row.group,
            site: row.site,
        });
    }
    for row in devices {
        if !DeviceConfig::token_is_valid(&row.doh_token) {
            tracing::warn!(device = %row.name, "stored device skipped: its DoH token is too short or has characters outside A-Z, a-z, 0-9, - and _");
            continue;
        }
        if policy.devices.iter().any(|d| d.doh_token == row.doh_token) {
            tracing::warn!(device = %row.name, "stored device skipped: its DoH token is also in the config file");
            continue;
        }
        let group = row.group.filter(|g| policy.groups.contains_key(g));
        policy.devices.push(DeviceConfig {
            name: row.name,
            doh_token: row.doh_token,
            user: row.user,
            group,
            site: row.site,
        });
    }
    for row in accounts {
        if policy.accounts.iter().any(|a| a.username == row.username) {
            tracing::warn!(user = %row.username, "stored account skipped: the config file has one of the same name");
            continue;
        }
        let group = row.group.filter(|g| policy.groups.contains_key(g));
        let expires = row
            .expires_us
            .and_then(|t| jiff::Timestamp::from_microsecond(t).ok())
            .map(|t| t.to_string());
        policy.accounts.push(AccountConfig {
            username: row.username,
            password_hash: row.password_hash,
            group,
            expires,
        });
    }
    for u in unblocks {
        if let Err(e) = tutela_policy::validate_site(&u.request.site) {
            tracing::warn!(unblock = u.id, "approved unblock skipped: {e}");
            continue;
        }
        if let Some(g) = u
            .request
            .group
            .as_ref()
            .filter(|g| !policy.groups.contains_key(*g))
        {
            tracing::warn!(unblock = u.id, group = %g, "approved unblock skipped: no such group");
            continue;
        }
        let Ok(until) = jiff::Timestamp::from_microsecond(u.request.revert_us) else {
            continue;
        };
        // `until` makes the snapshot stop allowing it at the reversion
        // time, whether or not the console has marked it reverted yet.
        policy.overrides.push(OverrideConfig {
            site: u.request.site.clone(),
            action: OverrideAction::Allow,
            group: u.request.group.clone(),
            user: None,
            from: None,
            until: Some(until.to_string()),
            reason: format!("temporary unblock {}: {}", u.id, u.request.reason),
            requested_by: Some(u.request.staff_name.clone()),
        });
    }
    policy
}
