//! The live policy: one snapshot, replaced whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use jiff::Timestamp;

use crate::snapshot::{Identity, Snapshot};
use crate::target::Target;
use crate::verdict::Verdict;

/// Holds the current [`Snapshot`]. Listeners call [`Engine::decide`] from any
/// thread; a reload builds a new snapshot off the hot path and
/// [`Engine::install`]s it in one atomic store. A decision sees either the
/// old snapshot or the new one, never a mix.
pub struct Engine {
    current: ArcSwap<Snapshot>,
    generations: AtomicU64,
}

impl Engine {
    pub fn new(mut first: Snapshot) -> Engine {
        first.generation = 1;
        Engine {
            current: ArcSwap::from_pointee(first),
            generations: AtomicU64::new(1),
        }
    }

    /// The current snapshot, kept alive for as long as the caller holds it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current snapshot for the span of one decision: cheaper than
    /// [`Engine::snapshot`] (no shared reference count to bump on every
    /// query); `arc_swap::Guard::into_inner` turns it into an `Arc` for work
    /// that outlives the decision.
    pub fn current(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Makes `next` current and returns its generation.
    pub fn install(&self, mut next: Snapshot) -> u64 {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        next.generation = generation;
        self.current.store(Arc::new(next));
        generation
    }

    pub fn decide(&self, identity: &Identity<'_>, target: &Target, at: Timestamp) -> Verdict {
        self.current.load().decide(identity, target, at)
    }
}
