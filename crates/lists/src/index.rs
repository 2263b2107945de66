//! The compiled index: host → categories, URL prefixes, and expressions.

use std::collections::HashMap;

use crate::category::{Categories, CategoryId, CategoryMask};
use crate::name::HostName;
use crate::table::{DomainTable, DomainTableBuilder, SetId, SetInterner, TableError};

/// What a lookup matched, and the entry that made it match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub categories: CategoryMask,
    pub entry: Entry<'a>,
}

/// A list entry, as written after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A domain entry (covers subdomains), or an exact IP address.
    Domain(&'a str),
    /// A `host/path` prefix entry.
    UrlPrefix { host: &'a str, path: &'a str },
    /// A regular expression over `host/path`.
    Expression(&'a str),
}

impl std::fmt::Display for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Domain(d) => f.write_str(d),
            Entry::UrlPrefix { host, path } => write!(f, "{host}{path}"),
            Entry::Expression(e) => write!(f, "regex:{e}"),
        }
    }
}

/// Everything one lookup matched: the union of categories and each hit, most
/// specific first.
#[derive(Debug, Clone, Default)]
pub struct Matches<'a> {
    pub categories: CategoryMask,
    pub hits: Vec<Hit<'a>>,
}

impl<'a> Matches<'a> {
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// The most specific hit that gives one of `wanted`.
    pub fn hit_for(&self, wanted: &CategoryMask) -> Option<&Hit<'a>> {
        self.hits.iter().find(|h| h.categories.intersects(wanted))
    }
}

/// The host part of a lookup, already in canonical form.
#[derive(Debug, Clone, Copy)]
pub struct HostKey<'a> {
    /// [`HostName::key`] of the host.
    pub key: &'a str,
    /// IP addresses match exact entries only, never as a suffix.
    pub is_ip: bool,
}

impl<'a> HostKey<'a> {
    pub fn domain(key: &'a str) -> Self {
        HostKey { key, is_ip: false }
    }
}

struct Expressions {
    set: regex::RegexSet,
    categories: Vec<CategoryId>,
}

impl std::fmt::Debug for Expressions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expressions({})", self.categories.len())
    }
}

/// Host → the path prefixes listed under it, each with its categories.
type UrlPrefixes = HashMap<Box<str>, Vec<(Box<str>, SetId)>, foldhash::fast::RandomState>;

/// An immutable compiled index. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Index {
    categories: Categories,
    sets: Box<[CategoryMask]>,
    domains: DomainTable,
    exceptions: DomainTable,
    url_prefixes: UrlPrefixes,
    url_prefix_count: usize,
    expressions: Option<Expressions>,
    /// Distinct names the lists gave, before covered ones were dropped.
    listed_domains: usize,
}

impl Index {
    pub fn empty() -> Index {
        IndexBuilder::new(0).finish()
    }

    pub fn categories(&self) -> &Categories {
        &self.categories
    }

    fn set(&self, id: SetId) -> CategoryMask {
        self.sets.get(id.0 as usize).copied().unwrap_or_default()
    }

    /// Every entry that covers `host` (and `path`, when the request's path is
    /// known). `path` is the normalised path with its query.
    pub fn lookup<'a>(&'a self, host: HostKey<'a>, path: Option<&'a str>) -> Matches<'a> {
        let mut m = Matches::default();
        self.lookup_into(host, path, &mut m);
        m
    }

    /// Whether anything covers `host`; cheaper than [`Index::lookup`].
    pub fn matches_host(&self, host: HostKey<'_>) -> bool {
        let mut found = false;
        self.for_each_suffix(host, |_, _| {
            found = true;
            false
        });
        found
    }

    fn lookup_into<'a>(&'a self, host: HostKey<'a>, path: Option<&'a str>, m: &mut Matches<'a>) {
        self.for_each_suffix(host, |suffix, set| {
            let categories = self.set(set);
            m.categories = m.categories.union(categories);
            m.hits.push(Hit {
                categories,
                entry: Entry::Domain(suffix),
            });
            true
        });
        if let Some(path) = path {
            if self.url_prefix_count > 0 {
                self.lookup_url_prefixes(host, path, m);
            }
            if let Some(exprs) = &self.expressions {
                let text = format!("{}{}", host.key, path);
                for i in exprs.set.matches(&text).iter() {
                    if let (Some(cat), Some(pattern)) =
                        (exprs.categories.get(i), exprs.set.patterns().get(i))
                    {
                        let categories = CategoryMask::single(*cat);
                        m.categories = m.categories.union(categories);
                        m.hits.push(Hit {
                            categories,
                            entry: Entry::Expression(pattern),
                        });
                    }
                }
            }
        }
        if !self.exceptions.is_empty() && !m.hits.is_empty() {
            let mut excepted = CategoryMask::EMPTY;
            for_each_suffix_in(&self.exceptions, host, |_, set| {
                excepted = excepted.union(self.set(set));
                true
            });
            if !excepted.is_empty() {
                m.categories = m.categories.difference(excepted);
                for hit in &mut m.hits {
                    hit.categories = hit.categories.difference(excepted);
                }
                m.hits.retain(|h| !h.categories.is_empty());
            }
        }
    }

    fn for_each_suffix<'a>(&'a self, host: HostKey<'a>, f: impl FnMut(&'a str, SetId) -> bool) {
        for_each_suffix_in(&self.domains, host, f)
    }

    fn lookup_url_prefixes<'a>(&'a self, host: HostKey<'a>, path: &'a str, m: &mut Matches<'a>) {
        let mut probe = |suffix: &'a str| {
            if let Some(entries) = self.url_prefixes.get(suffix) {
                for (prefix, set) in entries {
                    if path.starts_with(&**prefix) {
                        let categories = self.set(*set);
                        m.categories = m.categories.union(categories);
                        m.hits.push(Hit {
                            categories,
                            entry: Entry::UrlPrefix {
                                host: suffix,
                                path: prefix,
                            },
                        });
                    }
                }
            }
        };
        if host.is_ip {
            probe(host.key);
            return;
        }
        let key = host.key;
        probe(key);
        for (i, b) in key.bytes().enumerate() {
            if b == b'.' {
                probe(&key[i + 1..]);
            }
        }
    }

    /// Counts per category: (domains, URL prefixes, expressions).
    pub fn counts(&self) -> Vec<(CategoryId, usize, usize, usize)> {
        let n = self.categories.len();
        let mut domains = vec![0usize; n];
        let mut urls = vec![0usize; n];
        let mut exprs = vec![0usize; n];
        for (_, set) in self.domains.iter() {
            for c in self.set(set).iter() {
                if let Some(x) = domains.get_mut(c.0 as usize) {
                    *x += 1;
                }
            }
        }
        for entries in self.url_prefixes.values() {
            for (_, set) in entries {
                for c in self.set(*set).iter() {
                    if let Some(x) = urls.get_mut(c.0 as usize) {
                        *x += 1;
                    }
                }
            }
        }
        if let Some(e) = &self.expressions {
            for c in &e.categories {
                if let Some(x) = exprs.get_mut(c.0 as usize) {
                    *x += 1;
                }
            }
        }
        (0..n)
            .map(|i| (CategoryId(i as u16), domains[i], urls[i], exprs[i]))
            .collect()
    }

    /// Domain and IP entries stored: the distinct names listed, less those
    /// a parent domain already covers with the same categories.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Distinct domain and IP names the lists gave.
    pub fn listed_domain_count(&self) -> usize {
        self.listed_domains
    }

    pub fn url_prefix_count(&self) -> usize {
        self.url_prefix_count
    }

    /// Approximate heap bytes of the domain table (slots and text), the bulk
    /// of the index.
    pub fn domain_table_bytes(&self) -> usize {
        self.domains.heap_bytes()
    }
}

/// Calls `f` with each suffix of `host` that `table` holds, longest first,
/// until `f` returns false. Hosts are split at dots; the bare last label is
/// probed only if the table holds single-label names.
#[inline]
fn for_each_suffix_in<'a>(
    table: &'a DomainTable,
    host: HostKey<'a>,
    mut f: impl FnMut(&'a str, SetId) -> bool,
) {
    if table.is_empty() {
        return;
    }
    let key = host.key;
    if host.is_ip {
        if let Some(set) = table.get(key.as_bytes()) {
            f(key, set);
        }
        return;
    }
    let bytes = key.as_bytes();
    // Where each label starts, in one pass over the name.
    let mut starts = [0u8; FAST_LABELS];
    let mut labels = 1usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if labels < FAST_LABELS && i < 255 {
                starts[labels] = (i + 1) as u8;
            }
            labels += 1;
        }
    }
    let probes = if table.has_single_labels() {
        labels
    } else {
        labels - 1
    };
    if labels > FAST_LABELS || bytes.len() > 255 {
        // Rare deep names: probe one suffix at a time.
        let mut start = 0usize;
        for _ in 0..probes {
            if let Some(set) = table.get(&bytes[start..]) {
                if !f(&key[start..], set) {
                    return;
                }
            }
            match bytes[start..].iter().position(|&b| b == b'.') {
                Some(dot) => start += dot + 1,
                None => break,
            }
        }
        return;
    }
    // Hash every suffix and touch its home slot first, so the cache misses
    // of the probes overlap rather than queue.
    // The in-cache filter rules out most suffixes; the rest are touched
    // before any is compared.
    let mut hashes = [0u64; FAST_LABELS];
    let mut candidates = [0u8; FAST_LABELS];
    let mut n = 0;
    let mut touched = 0u64;
    for (i, &start) in starts.iter().enumerate().take(probes) {
        let h = table.hash(&bytes[start as usize..]);
        if table.may_contain(h) {
            touched ^= table.touch(h);
            hashes[n] = h;
            candidates[n] = i as u8;
            n += 1;
        }
    }
    std::hint::black_box(touched);
    for c in 0..n {
        let start = starts[candidates[c] as usize] as usize;
        if let Some(set) = table.get_hashed(&bytes[start..], hashes[c]) {
            if !f(&key[start..], set) {
                return;
            }
        }
    }
}

/// Labels handled by the overlapped probe; deeper names take a slower path.
const FAST_LABELS: usize = 12;

/// Collects entries from any number of sources, then compiles an [`Index`].
pub struct IndexBuilder {
    categories: Categories,
    sets: SetInterner,
    domains: DomainTableBuilder,
    exceptions: DomainTableBuilder,
    url_prefixes: HashMap<String, Vec<(String, CategoryMask)>>,
    expressions: Vec<(String, CategoryId)>,
}

impl IndexBuilder {
    /// `expected_domains` sizes the table up front.
    pub fn new(expected_domains: usize) -> Self {
        IndexBuilder {
            categories: Categories::default(),
            sets: SetInterner::default(),
            domains: DomainTableBuilder::new(expected_domains),
            exceptions: DomainTableBuilder::new(0),
            url_prefixes: HashMap::new(),
            expressions: Vec::new(),
        }
    }

    pub fn categories_mut(&mut self) -> &mut Categories {
        &mut self.categories
    }

    pub fn categories(&self) -> &Categories {
        &self.categories
    }

    pub fn add_domain(&mut self, host: &HostName, category: CategoryId) -> Result<(), TableError> {
        let key = host.key();
        self.domains.insert(
            key.as_bytes(),
            CategoryMask::single(category),
            &mut self.sets,
        )
    }

    pub fn add_exception(
        &mut self,
        host: &HostName,
        category: CategoryId,
    ) -> Result<(), TableError> {
        let key = host.key();
        self.exceptions.insert(
            key.as_bytes(),
            CategoryMask::single(category),
            &mut self.sets,
        )
    }

    /// `path` must already be normalised ([`crate::name::normalize_path`]).
    pub fn add_url_prefix(&mut self, host: &HostName, path: &str, category: CategoryId) {
        let entries = self
            .url_prefixes
            .entry(host.key().into_owned())
            .or_default();
        match entries.iter_mut().find(|(p, _)| p == path) {
            Some((_, mask)) => mask.insert(category),
            None => entries.push((path.to_string(), CategoryMask::single(category))),
        }
    }

    /// Adds a regular expression; returns the compile error if it has one.
    pub fn add_expression(&mut self, pattern: &str, category: CategoryId) -> Result<(), String> {
        regex::RegexBuilder::new(pattern)
            .size_limit(8 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        self.expressions.push((pattern.to_string(), category));
        Ok(())
    }

    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    pub fn finish(mut self) -> Index {
        let mut url_prefix_count = 0;
        let mut url_prefixes = UrlPrefixes::with_hasher(foldhash::fast::RandomState::default());
        for (host, entries) in std::mem::take(&mut self.url_prefixes) {
            let mut out = Vec::with_capacity(entries.len());
            for (path, mask) in entries {
                // A set that cannot be interned is dropped; with 65k distinct
                // sets already there, the table has bigger trouble.
                if let Ok(id) = self.sets.intern(mask) {
                    out.push((path.into_boxed_str(), id));
                    url_prefix_count += 1;
                }
            }
            url_prefixes.insert(host.into_boxed_str(), out);
        }
        let expressions = if self.expressions.is_empty() {
            None
        } else {
            let (patterns, categories): (Vec<_>, Vec<_>) = self.expressions.into_iter().unzip();
            match regex::RegexSetBuilder::new(&patterns)
                .size_limit(64 << 20)
                .build()
            {
                Ok(set) => Some(Expressions { set, categories }),
                Err(e) => {
                    tracing::warn!(error = %e, "list expressions together are too large; expressions not applied");
                    None
                }
            }
        };
        let listed_domains = self.domains.len();
        Index {
            listed_domains,
            categories: self.categories,
            domains: self.domains.finish_minimal(&self.sets),
            exceptions: self.exceptions.finish(),
            sets: self.sets.into_sets(),
            url_prefixes,
            url_prefix_count,
            expressions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Usage;

    fn host(s: &str) -> HostName {
        HostName::parse(s).unwrap()
    }

    fn index() -> (Index, CategoryId, CategoryId) {
        let mut b = IndexBuilder::new(4);
        let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
        let social = b.categories_mut().intern("social", Usage::Black).unwrap();
        b.add_domain(&host("bad.example"), adult).unwrap();
        b.add_domain(&host("sub.bad.example"), social).unwrap();
        b.add_domain(&host("10.1.2.3"), adult).unwrap();
        b.add_exception(&host("ok.bad.example"), adult).unwrap();
        b.add_url_prefix(&host("site.example"), "/adult", adult);
        b.add_expression("(^|[./])xxx[./]", adult).unwrap();
        (b.finish(), adult, social)
    }

    #[test]
    fn suffix_semantics() {
        let (ix, adult, social) = index();
        let m = ix.lookup(HostKey::domain("bad.example"), None);
        assert_eq!(m.categories, CategoryMask::single(adult));
        let m = ix.lookup(HostKey::domain("x.sub.bad.example"), None);
        assert!(m.categories.contains(adult) && m.categories.contains(social));
        assert_eq!(m.hits[0].entry, Entry::Domain("sub.bad.example"));
        assert!(ix
            .lookup(HostKey::domain("notbad.example"), None)
            .is_empty());
        assert!(ix
            .lookup(HostKey::domain("bad.example.org"), None)
            .is_empty());
        assert!(ix.lookup(HostKey::domain("example"), None).is_empty());
        assert!(ix
            .lookup(HostKey::domain("ok.bad.example"), None)
            .is_empty());
        assert!(ix.matches_host(HostKey::domain("a.bad.example")));
    }

    #[test]
    fn ips_match_exactly() {
        let (ix, adult, _) = index();
        let m = ix.lookup(
            HostKey {
                key: "10.1.2.3",
                is_ip: true,
            },
            None,
        );
        assert_eq!(m.categories, CategoryMask::single(adult));
        assert!(ix
            .lookup(
                HostKey {
                    key: "1.2.3",
                    is_ip: true
                },
                None
            )
            .is_empty());
    }

    #[test]
    fn url_prefixes_and_expressions_need_a_path() {
        let (ix, adult, _) = index();
        assert!(ix.lookup(HostKey::domain("site.example"), None).is_empty());
        let m = ix.lookup(HostKey::domain("www.site.example"), Some("/adult/x"));
        assert_eq!(m.categories, CategoryMask::single(adult));
        assert!(ix
            .lookup(HostKey::domain("site.example"), Some("/other"))
            .is_empty());
        let m = ix.lookup(HostKey::domain("cdn.example"), Some("/xxx/1"));
        assert!(matches!(m.hits[0].entry, Entry::Expression(_)));
    }
}
