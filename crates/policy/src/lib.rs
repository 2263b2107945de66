//! Policy: who may reach what, and when.
//!
//! This crate owns groups, time schedules, overrides, safe search, the
//! built-in circumvention rules and the illegal-content tier, compiled into
//! an immutable [`Snapshot`] whose [`Snapshot::decide`] turns
//! `(identity, target, time)` into a [`Verdict`]. The [`Engine`] swaps
//! snapshots atomically. It does no I/O: lists arrive already compiled
//! (`tutela-lists`), and time is passed in.

pub mod config;
pub mod engine;
pub mod safesearch;
pub mod snapshot;
pub mod target;
pub mod verdict;

pub use config::{AccountConfig, DeviceConfig, DnsBlock, PolicyConfig};
pub use engine::Engine;
pub use safesearch::{SafeSearch, SearchEngine};
pub use snapshot::{
    validate_site, Account, Device, Explanation, Identity, PolicyError, Snapshot,
    CIRCUMVENTION_CANARIES,
};
pub use target::{Target, TargetError};
pub use verdict::{Action, Rule, Verdict};
