//! A compact, immutable hash table from host name to category set.
//!
//! Three million names must fit in well under 40 bytes each, text included,
//! and a lookup must cost one or two cache misses. So the table is two flat
//! arrays: an arena of length-prefixed name bytes, and open-addressed 8-byte
//! slots that hold the name's arena offset, its category-set id and a 16-bit
//! fingerprint of its hash. The fingerprint lets a probe skip the arena for
//! nearly every name that is not there.

use std::hash::BuildHasher;

use crate::category::CategoryMask;

/// An interned category set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetId(pub u16);

const EMPTY_SET: u16 = u16::MAX;
const MAX_LOAD: f64 = 0.72;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("more than 65,534 distinct category sets")]
    TooManySets,
    #[error("list text larger than 4 GiB")]
    ArenaFull,
}

/// Interned category sets, shared by every table of one index.
#[derive(Debug, Clone, Default)]
pub struct SetInterner {
    sets: Vec<CategoryMask>,
    by_mask: std::collections::HashMap<CategoryMask, SetId>,
}

impl SetInterner {
    pub fn intern(&mut self, mask: CategoryMask) -> Result<SetId, TableError> {
        if let Some(id) = self.by_mask.get(&mask) {
            return Ok(*id);
        }
        if self.sets.len() >= EMPTY_SET as usize {
            return Err(TableError::TooManySets);
        }
        let id = SetId(self.sets.len() as u16);
        self.sets.push(mask);
        self.by_mask.insert(mask, id);
        Ok(id)
    }

    pub fn get(&self, id: SetId) -> CategoryMask {
        self.sets.get(id.0 as usize).copied().unwrap_or_default()
    }

    pub fn into_sets(self) -> Box<[CategoryMask]> {
        self.sets.into_boxed_slice()
    }
}

#[inline]
fn slot_set(slot: u64) -> u16 {
    (slot >> 32) as u16
}
#[inline]
fn slot_fp(slot: u64) -> u16 {
    (slot >> 48) as u16
}
#[inline]
fn slot_offset(slot: u64) -> usize {
    (slot & 0xffff_ffff) as usize
}
#[inline]
fn make_slot(offset: u32, set: u16, fp: u16) -> u64 {
    offset as u64 | (set as u64) << 32 | (fp as u64) << 48
}
const EMPTY_SLOT: u64 = (EMPTY_SET as u64) << 32;

#[inline]
fn home(hash: u64, len: usize) -> usize {
    ((hash as u128 * len as u128) >> 64) as usize
}

/// The finished table. Immutable; lookups take `&self` from any thread.
#[derive(Debug, Clone)]
pub struct DomainTable {
    slots: Box<[u64]>,
    arena: Box<[u8]>,
    /// A blocked Bloom filter over the names, ~10 bits a name: small enough
    /// to stay in cache, so most names that are in no list are answered
    /// without touching the slots at all.
    filter: Box<[[u64; 8]]>,
    hasher: foldhash::fast::FixedState,
    len: usize,
    has_single_labels: bool,
}

impl DomainTable {
    pub fn empty() -> Self {
        DomainTableBuilder::new(0).finish()
    }

    /// The hash a lookup of `name` starts from. Split out so a caller can hash
    /// every suffix of a host before touching the table.
    #[inline]
    pub fn hash(&self, name: &[u8]) -> u64 {
        self.hasher.hash_one(name)
    }

    /// Starts loading the cache line of `hash`'s home slot, so that probes for
    /// several suffixes of one host overlap in memory instead of queueing.
    #[inline]
    pub fn touch(&self, hash: u64) -> u64 {
        if self.slots.is_empty() {
            return EMPTY_SLOT;
        }
        self.slots[home(hash, self.slots.len())]
    }

    /// False if no name with this hash is in the table; true if one may be.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        filter_test(&self.filter, hash)
    }

    #[inline]
    pub fn get_hashed(&self, name: &[u8], hash: u64) -> Option<SetId> {
        let n = self.slots.len();
        if n == 0 || !self.may_contain(hash) {
            return None;
        }
        probe(&self.slots, &self.arena, name, hash)
            .ok()
            .map(|i| SetId(slot_set(self.slots[i])))
    }

    pub fn get(&self, name: &[u8]) -> Option<SetId> {
        self.get_hashed(name, self.hash(name))
    }

    #[inline]
    fn name_at(&self, offset: usize) -> &[u8] {
        let len = self.arena.get(offset).copied().unwrap_or(0) as usize;
        self.arena.get(offset + 1..offset + 1 + len).unwrap_or(&[])
    }

    /// How many distinct names the table holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Does the table hold a name with no dot (only when a list was allowed
    /// to)? If not, lookups skip the last label of every host.
    pub fn has_single_labels(&self) -> bool {
        self.has_single_labels
    }

    /// Heap bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * 8 + self.arena.len() + self.filter.len() * 64
    }

    /// Every name with its set, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SetId)> {
        self.slots
            .iter()
            .filter(|s| slot_set(**s) != EMPTY_SET)
            .map(|s| (self.name_at(slot_offset(*s)), SetId(slot_set(*s))))
    }
}

/// Builds a [`DomainTable`], merging the category sets of names listed more
/// than once.
pub struct DomainTableBuilder {
    slots: Vec<u64>,
    arena: Vec<u8>,
    hasher: foldhash::fast::FixedState,
    len: usize,
    has_single_labels: bool,
}

impl DomainTableBuilder {
    /// `expected` sizes the table up front; it grows if needed.
    pub fn new(expected: usize) -> Self {
        let seed = foldhash::fast::RandomState::default().hash_one(0u64);
        DomainTableBuilder {
            slots: vec![EMPTY_SLOT; capacity_for(expected)],
            arena: Vec::with_capacity(expected * 16),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            len: 0,
            has_single_labels: false,
        }
    }

    /// Adds `name` with `mask`; if it is already there, merges the sets.
    pub fn insert(
        &mut self,
        name: &[u8],
        mask: CategoryMask,
        sets: &mut SetInterner,
    ) -> Result<(), TableError> {
        if name.is_empty() || name.len() > 255 {
            return Ok(());
        }
        if (self.len + 1) as f64 > self.slots.len() as f64 * MAX_LOAD {
            self.resize(capacity_for((self.len + 1) * 2));
        }
        let hash = self.hasher.hash_one(name);
        let fp = (hash >> 48) as u16;
        match probe(&self.slots, &self.arena, name, hash) {
            Err(i) => {
                let offset = u32::try_from(self.arena.len()).map_err(|_| TableError::ArenaFull)?;
                self.arena.push(name.len() as u8);
                self.arena.extend_from_slice(name);
                let id = sets.intern(mask)?;
                self.slots[i] = make_slot(offset, id.0, fp);
                self.len += 1;
                if !name.contains(&b'.') {
                    self.has_single_labels = true;
                }
            }
            Ok(i) => {
                let slot = self.slots[i];
                let merged = sets.get(SetId(slot_set(slot))).union(mask);
                let id = sets.intern(merged)?;
                self.slots[i] = make_slot(slot_offset(slot) as u32, id.0, fp);
            }
        }
        Ok(())
    }

    fn resize(&mut self, new_len: usize) {
        let mut slots = vec![EMPTY_SLOT; new_len];
        for &slot in self.slots.iter().filter(|s| slot_set(**s) != EMPTY_SET) {
            let hash = self
                .hasher
                .hash_one(arena_name(&self.arena, slot_offset(slot)));
            let i = first_empty(&slots, hash);
            slots[i] = slot;
        }
        self.slots = slots;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn find(&self, name: &[u8]) -> Option<u16> {
        let hash = self.hasher.hash_one(name);
        probe(&self.slots, &self.arena, name, hash)
            .ok()
            .map(|i| slot_set(self.slots[i]))
    }

    /// Drops every name that a parent domain in the table already covers
    /// with all of its categories (`www.example.com` under `example.com`),
    /// then finishes. Lookups give the same categories; the table shrinks by
    /// about half on real lists, and with it the cache misses per lookup.
    /// The entry a lookup reports becomes the covering parent.
    pub fn finish_minimal(mut self, sets: &SetInterner) -> DomainTable {
        let mut kept: Vec<(u32, u16)> = Vec::with_capacity(self.len);
        for &slot in self.slots.iter().filter(|s| slot_set(**s) != EMPTY_SET) {
            let name = arena_name(&self.arena, slot_offset(slot));
            let mask = sets.get(SetId(slot_set(slot)));
            let mut covered = false;
            let mut rest = name;
            while let Some(dot) = rest.iter().position(|&b| b == b'.') {
                rest = &rest[dot + 1..];
                if !self.has_single_labels && !rest.contains(&b'.') {
                    break;
                }
                if let Some(parent) = self.find(rest) {
                    let parent = sets.get(SetId(parent));
                    if parent.union(mask) == parent {
                        covered = true;
                        break;
                    }
                }
            }
            if !covered {
                kept.push((slot_offset(slot) as u32, slot_set(slot)));
            }
        }
        // Compact the arena in place, in arena order, then index afresh.
        kept.sort_unstable();
        let mut write = 0usize;
        let mut placed = Vec::with_capacity(kept.len());
        for (offset, set) in kept {
            let offset = offset as usize;
            let len = 1 + self.arena.get(offset).copied().unwrap_or(0) as usize;
            self.arena.copy_within(offset..offset + len, write);
            placed.push((write as u32, set));
            write += len;
        }
        self.arena.truncate(write);
        self.arena.shrink_to_fit();
        self.slots = Vec::new();
        let n = capacity_for(placed.len());
        let mut slots = vec![EMPTY_SLOT; n];
        let mut has_single_labels = false;
        for (offset, set) in &placed {
            let name = arena_name(&self.arena, *offset as usize);
            has_single_labels |= !name.contains(&b'.');
            let hash = self.hasher.hash_one(name);
            let i = first_empty(&slots, hash);
            slots[i] = make_slot(*offset, *set, (hash >> 48) as u16);
        }
        let arena = self.arena.into_boxed_slice();
        let hasher = self.hasher;
        let filter = build_filter(
            placed
                .iter()
                .map(|(offset, _)| hasher.hash_one(arena_name(&arena, *offset as usize))),
            placed.len(),
        );
        DomainTable {
            slots: slots.into_boxed_slice(),
            arena,
            filter,
            hasher,
            len: placed.len(),
            has_single_labels,
        }
    }

    pub fn finish(mut self) -> DomainTable {
        // Grown tables can be up to twice as sparse as needed; settle at the
        // target load so memory per name stays predictable.
        let target = capacity_for(self.len);
        if target < self.slots.len() {
            self.resize(target);
        }
        let hasher = self.hasher;
        let filter = build_filter(
            self.slots
                .iter()
                .filter(|s| slot_set(**s) != EMPTY_SET)
                .map(|s| hasher.hash_one(arena_name(&self.arena, slot_offset(*s)))),
            self.len,
        );
        DomainTable {
            slots: self.slots.into_boxed_slice(),
            arena: self.arena.into_boxed_slice(),
            filter,
            hasher,
            len: self.len,
            has_single_labels: self.has_single_labels,
        }
    }
}

/// Bits set per name in the filter. With ~10 bits a name, six bits in one
/// 512-bit block give about a 1% false-positive rate.
const FILTER_BITS: u32 = 6;

fn filter_blocks(names: usize) -> usize {
    (names * 10).div_ceil(512).max(1)
}

#[inline]
fn filter_bits(hash: u64) -> impl Iterator<Item = usize> {
    // The block comes from the high bits (as the home slot does, for a
    // different array); the bit positions from the low 54.
    (0..FILTER_BITS).map(move |i| ((hash >> (9 * i)) & 511) as usize)
}

#[inline]
fn filter_block(filter_len: usize, hash: u64) -> usize {
    home(hash.rotate_left(32), filter_len)
}

fn filter_insert(filter: &mut [[u64; 8]], hash: u64) {
    let b = filter_block(filter.len(), hash);
    for bit in filter_bits(hash) {
        filter[b][bit / 64] |= 1 << (bit % 64);
    }
}

#[inline]
fn filter_test(filter: &[[u64; 8]], hash: u64) -> bool {
    if filter.is_empty() {
        return false;
    }
    let block = &filter[filter_block(filter.len(), hash)];
    filter_bits(hash).all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0)
}

fn build_filter(names: impl Iterator<Item = u64>, count: usize) -> Box<[[u64; 8]]> {
    let mut filter = vec![[0u64; 8]; filter_blocks(count)].into_boxed_slice();
    for hash in names {
        filter_insert(&mut filter, hash);
    }
    filter
}

fn capacity_for(n: usize) -> usize {
    ((n as f64 / MAX_LOAD) as usize + 1).max(8)
}

/// Linear probing from `hash`'s home: `Ok(slot)` where `name` is, or
/// `Err(slot)`, the empty slot where it would go. `slots` must not be empty
/// and must hold an empty slot (the load factor sees to that).
#[inline]
fn probe(slots: &[u64], arena: &[u8], name: &[u8], hash: u64) -> Result<usize, usize> {
    let fp = (hash >> 48) as u16;
    let n = slots.len();
    let mut i = home(hash, n);
    loop {
        let slot = slots[i];
        if slot_set(slot) == EMPTY_SET {
            return Err(i);
        }
        if slot_fp(slot) == fp && arena_name(arena, slot_offset(slot)) == name {
            return Ok(i);
        }
        i += 1;
        if i == n {
            i = 0;
        }
    }
}

/// The first empty slot from `hash`'s home, for names known to be absent.
fn first_empty(slots: &[u64], hash: u64) -> usize {
    let n = slots.len();
    let mut i = home(hash, n);
    while slot_set(slots[i]) != EMPTY_SET {
        i += 1;
        if i == n {
            i = 0;
        }
    }
    i
}

fn arena_name(arena: &[u8], offset: usize) -> &[u8] {
    let len = arena.get(offset).copied().unwrap_or(0) as usize;
    arena.get(offset + 1..offset + 1 + len).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategoryId;

    #[test]
    fn inserts_merges_and_finds() {
        let mut sets = SetInterner::default();
        let mut b = DomainTableBuilder::new(2);
        let a = CategoryMask::single(CategoryId(1));
        let c = CategoryMask::single(CategoryId(7));
        for i in 0..10_000 {
            b.insert(format!("host{i}.example").as_bytes(), a, &mut sets)
                .unwrap();
        }
        b.insert(b"host5.example", c, &mut sets).unwrap();
        let t = b.finish();
        assert_eq!(t.len(), 10_000);
        let merged = sets.get(t.get(b"host5.example").unwrap());
        assert!(merged.contains(CategoryId(1)) && merged.contains(CategoryId(7)));
        assert_eq!(sets.get(t.get(b"host6.example").unwrap()), a);
        assert!(t.get(b"host6.exampl").is_none());
        assert!(t.get(b"nothere").is_none());
        assert!(!t.has_single_labels());
        assert_eq!(t.iter().count(), 10_000);
    }

    #[test]
    fn minimal_drops_only_names_a_parent_fully_covers() {
        let mut sets = SetInterner::default();
        let a = CategoryMask::single(CategoryId(1));
        let b = CategoryMask::single(CategoryId(2));
        let mut t = DomainTableBuilder::new(0);
        t.insert(b"www.example.com", a, &mut sets).unwrap();
        t.insert(b"example.com", a, &mut sets).unwrap();
        t.insert(b"deep.sub.example.com", a, &mut sets).unwrap();
        t.insert(b"mixed.example.com", a.union(b), &mut sets)
            .unwrap();
        t.insert(b"other.example.com", b, &mut sets).unwrap();
        t.insert(b"notexample.com", a, &mut sets).unwrap();
        let t = t.finish_minimal(&sets);
        let mut names: Vec<String> = t
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "example.com",
                "mixed.example.com",
                "notexample.com",
                "other.example.com"
            ]
        );
        assert_eq!(sets.get(t.get(b"mixed.example.com").unwrap()), a.union(b));
        assert!(t.get(b"www.example.com").is_none());
    }

    #[test]
    fn empty_table_finds_nothing() {
        let t = DomainTable::empty();
        assert!(t.get(b"example.com").is_none());
    }
}
