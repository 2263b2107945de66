//! Every lexicon compiled into one Aho-Corasick automaton, run over the
//! normalised text.
//!
//! Every pattern starts with a space, so a phrase can only begin where a
//! word does. Rather than walk the automaton over every byte, the scanner
//! looks at each word start as normalisation writes it: the first bytes
//! of the word (up to eight) index small tables that say whether any
//! pattern could begin there ([`Filter`]); only if one could does it walk
//! the automaton, anchored, from that space. Most words in ordinary text begin
//! no pattern, so most bytes cost only the normalisation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, MatchKind};

use crate::html::html_text_into;
use crate::lexicon::Lexicon;
use crate::normalise::{normalise_reporting, Spaces, LOOKAHEAD};
use crate::spelling::{Spellings, Vocabulary};

/// Something in a text that a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub theme: String,
    pub language: String,
    pub severity: u8,
    /// The rule as written.
    pub rule: String,
    /// The normalised text around the hit.
    pub context: String,
}

#[derive(Debug, Clone, Copy)]
enum Use {
    Part { rule: usize },
    Negative { negative: usize },
}

#[derive(Debug)]
struct CompiledRule {
    lexicon: usize,
    label: String,
    severity: u8,
    /// The patterns of each part, in order: one for each way the part is
    /// written (see [`crate::spelling`]).
    part_patterns: Vec<Vec<usize>>,
    within: usize,
}

#[derive(Debug)]
struct CompiledNegative {
    lexicon: usize,
    within: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the lexicons cannot be compiled: {0}")]
pub struct BuildError(pub(crate) String);

/// The page text and its normalised form, for [`Scanner::scan_html_with`]
/// to reuse from page to page.
#[derive(Debug, Default)]
pub struct HtmlBuffers {
    text: String,
    normalised: String,
}

/// Characters of context each side of a hit.
const CONTEXT: usize = 60;

pub struct Scanner {
    /// Anchored: walked from one word start at a time.
    automaton: NFA,
    filter: Filter,
    uses: Vec<Vec<Use>>,
    rules: Vec<CompiledRule>,
    negatives: Vec<CompiledNegative>,
    lexicons: Vec<(String, String)>,
    /// The words a masked word may stand for.
    vocabulary: Vocabulary,
}

impl Scanner {
    /// Compiles `lexicons`, each phrase in every way the built-in
    /// spellings say it is written.
    pub fn new(lexicons: &[Lexicon]) -> Result<Scanner, BuildError> {
        let spellings = Spellings::built_in().map_err(|e| BuildError(e.to_string()))?;
        Scanner::with_spellings(lexicons, &spellings)
    }

    /// As [`Scanner::new`], with `spellings` instead of the built-in ones.
    pub fn with_spellings(
        lexicons: &[Lexicon],
        spellings: &Spellings,
    ) -> Result<Scanner, BuildError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut uses: Vec<Vec<Use>> = Vec::new();
        let mut add = |pattern: String,
                       u: Option<Use>,
                       patterns: &mut Vec<String>,
                       uses: &mut Vec<Vec<Use>>| {
            let id = *index.entry(pattern.clone()).or_insert_with(|| {
                patterns.push(pattern);
                uses.push(Vec::new());
                patterns.len() - 1
            });
            uses[id].extend(u);
            id
        };
        let mut rules = Vec::new();
        let mut negatives = Vec::new();
        for (l, lex) in lexicons.iter().enumerate() {
            for r in &lex.rules {
                let rule = rules.len();
                // A rule is looked at only when its trigger, its longest
                // part, is found; the other parts are looked up then. A
                // combination's common word ("alone", "school") is part of
                // thousands of rules, and would otherwise put them all to
                // the test wherever it occurs.
                let trigger = (0..r.parts.len())
                    .max_by_key(|&p| (r.parts[p].len(), std::cmp::Reverse(p)))
                    .unwrap_or(0);
                let mut part_patterns = Vec::with_capacity(r.parts.len());
                for (p, text) in r.parts.iter().enumerate() {
                    let ids = spellings
                        .forms(text, r.prefix)
                        .into_iter()
                        .map(|form| {
                            add(
                                crate::spelling::pattern(&form, r.prefix),
                                (p == trigger).then_some(Use::Part { rule }),
                                &mut patterns,
                                &mut uses,
                            )
                        })
                        .collect();
                    part_patterns.push(ids);
                }
                rules.push(CompiledRule {
                    lexicon: l,
                    label: r.label.clone(),
                    severity: r.severity,
                    part_patterns,
                    within: r.within,
                });
            }
            for n in &lex.negatives {
                let negative = negatives.len();
                for form in spellings.forms(&n.phrase, false) {
                    add(
                        crate::spelling::pattern(&form, false),
                        Some(Use::Negative { negative }),
                        &mut patterns,
                        &mut uses,
                    );
                }
                negatives.push(CompiledNegative {
                    lexicon: l,
                    within: n.within,
                });
            }
        }
        // Standard, so a walk reports every pattern that ends on its way;
        // walked anchored, since every walk starts at a word's space. A
        // contiguous NFA rather than a DFA: with every language's rules
        // and their spellings (8,500 patterns) the DFA took 33 MB, far
        // past the cache, and a walk missed it at every step; the NFA
        // takes under 1 MB, and page text scans faster through it.
        let automaton = aho_corasick::nfa::contiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .map_err(|e| BuildError(e.to_string()))?;
        if automaton.start_state(Anchored::Yes).is_err() {
            return Err(BuildError("no anchored start state".into()));
        }
        Ok(Scanner {
            automaton,
            filter: Filter::new(&patterns),
            vocabulary: Vocabulary::new(patterns.iter().map(String::as_str)),
            uses,
            rules,
            negatives,
            lexicons: lexicons
                .iter()
                .map(|l| (l.theme.clone(), l.language.clone()))
                .collect(),
        })
    }

    /// Scans `text` (a search, a URL, a title or page text).
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let mut buffer = String::new();
        self.scan_with(text, &mut buffer)
    }

    /// As [`Scanner::scan`], reusing `buffer` for the normalised text.
    pub fn scan_with(&self, text: &str, buffer: &mut String) -> Vec<Hit> {
        let mut starts = Starts {
            filter: &self.filter,
            candidates: Vec::new(),
        };
        let masked = normalise_reporting(text, buffer, &mut starts);
        if masked {
            if let Some(unmasked) = self.vocabulary.unmask(buffer) {
                // Rare, so the word starts are simply listed afresh.
                *buffer = unmasked;
                starts.candidates.clear();
                let spaces: Vec<usize> = buffer
                    .bytes()
                    .enumerate()
                    .filter_map(|(i, b)| (b == b' ').then_some(i))
                    .collect();
                let ready = spaces.partition_point(|&p| p + LOOKAHEAD < buffer.len());
                starts.ready(buffer.as_bytes(), &spaces[..ready]);
                starts.tail(buffer.as_bytes(), &spaces[ready..]);
            }
        }
        self.scan_normalised(buffer, &starts.candidates)
    }

    /// Scans a page's raw HTML as a reader sees it: tags, comments,
    /// scripts, styles and the `<title>` left out, character references
    /// decoded, each tag a word boundary (see [`crate::html`]). The title
    /// is not in these hits: read it with [`crate::html_title`] and
    /// [`Scanner::scan`] it, to tell a title hit from a page hit.
    pub fn scan_html(&self, html: &str) -> Vec<Hit> {
        self.scan_html_with(html, &mut HtmlBuffers::default())
    }

    /// As [`Scanner::scan_html`], reusing `buffers`.
    pub fn scan_html_with(&self, html: &str, buffers: &mut HtmlBuffers) -> Vec<Hit> {
        html_text_into(html, &mut buffers.text);
        self.scan_with(&buffers.text, &mut buffers.normalised)
    }

    /// Walks the automaton from each candidate word start in `norm`.
    fn scan_normalised(&self, norm: &str, candidates: &[usize]) -> Vec<Hit> {
        // Where each pattern was found (start, end), left to right. Kept
        // per pattern, not per rule using it: a common word can be part of
        // a hundred rules, and is looked at once per text, not once per
        // occurrence and rule.
        let mut found: Found = Found::default();
        let automaton = &self.automaton;
        let Ok(anchored_start) = automaton.start_state(Anchored::Yes) else {
            return Vec::new();
        };
        let bytes = norm.as_bytes();
        // Walks go in order of their start, so each pattern's occurrences
        // are listed left to right, as an unanchored search would list
        // them, and the caps below keep the same ones.
        for &start in candidates {
            let mut sid = anchored_start;
            for (end, &b) in bytes.iter().enumerate().skip(start) {
                sid = automaton.next_state(Anchored::Yes, sid, b);
                if !automaton.is_special(sid) {
                    continue;
                }
                if automaton.is_dead(sid) {
                    break;
                }
                if !automaton.is_match(sid) {
                    continue;
                }
                let end = end + 1;
                for i in 0..automaton.match_len(sid) {
                    let pattern = automaton.match_pattern(sid, i);
                    // A match state also carries the patterns that end
                    // here but start later; their own walk finds them.
                    if end - automaton.pattern_len(pattern) != start {
                        continue;
                    }
                    let at = found.entry(pattern.as_usize()).or_default();
                    if at.len() < NEGATIVE_CAP {
                        at.push((start, end));
                    }
                }
            }
        }
        let mut rules: Vec<usize> = Vec::new();
        let mut negatives: Vec<(usize, &[(usize, usize)])> = Vec::new();
        for (&pattern, at) in &found {
            for u in &self.uses[pattern] {
                match *u {
                    Use::Part { rule } => rules.push(rule),
                    Use::Negative { negative } => negatives.push((negative, at.as_slice())),
                }
            }
        }
        if rules.is_empty() {
            return Vec::new();
        }
        rules.sort_unstable();
        rules.dedup();
        let mut scored = Vec::new();
        for r in rules {
            let rule = &self.rules[r];
            let Some(span) = span(rule, &found) else {
                continue;
            };
            let negated = negatives.iter().any(|&(n, at)| {
                let neg = &self.negatives[n];
                neg.lexicon == rule.lexicon
                    && at
                        .iter()
                        .any(|(s, e)| *s <= span.1 + neg.within && span.0 <= *e + neg.within)
            });
            if negated {
                continue;
            }
            let (theme, language) = &self.lexicons[rule.lexicon];
            scored.push(Scored {
                theme,
                language,
                label: &rule.label,
                severity: rule.severity,
                span,
            });
        }
        finish(scored, norm)
    }
}

/// Severity 2 is "a weak sign, seen only alongside others"
/// (`lexicons/README.md`): a cue.
const CUE_SEVERITY: u8 = 2;

/// How near (bytes of normalised text between them) two cues must be to
/// be read together: about a sentence.
const CUE_WINDOW: usize = 80;

/// A rule found in a text, not negated, for [`finish`] to make a hit of.
pub(crate) struct Scored<'a> {
    pub(crate) theme: &'a str,
    pub(crate) language: &'a str,
    pub(crate) label: &'a str,
    pub(crate) severity: u8,
    pub(crate) span: (usize, usize),
}

/// The hits of one text in the order callers see them, with one more hit
/// per theme where two different cues of it stand close together: "the
/// marks on my thighs" + "nobody notices" is concerning (severity 3)
/// where neither is alone. Shared with the reference scanner, so both
/// make hits and weigh cues the same way.
pub(crate) fn finish(scored: Vec<Scored<'_>>, norm: &str) -> Vec<Hit> {
    let mut hits: Vec<Hit> = scored
        .iter()
        .map(|s| Hit {
            theme: s.theme.to_string(),
            language: s.language.to_string(),
            severity: s.severity,
            rule: s.label.to_string(),
            context: context(norm, s.span),
        })
        .collect();
    let mut cues: Vec<&Scored<'_>> = scored
        .iter()
        .filter(|s| s.severity == CUE_SEVERITY)
        .collect();
    cues.sort_by(|a, b| (a.theme, a.span, a.label).cmp(&(b.theme, b.span, b.label)));
    let mut i = 0;
    while i < cues.len() {
        let theme = cues[i].theme;
        let end = cues[i..]
            .iter()
            .position(|c| c.theme != theme)
            .map_or(cues.len(), |n| i + n);
        let group = &cues[i..end];
        let pair = group.iter().enumerate().find_map(|(k, a)| {
            group[k + 1..].iter().find_map(|b| {
                // Spans hold the spaces around their words, so cues on
                // neighbouring words share one. Cues that share a word
                // are not paired: `so mature` and `mature for` are one
                // phrase read twice ("so mature for his age"), not two
                // signs.
                let apart = a.span.1 <= b.span.0 + 1 || b.span.1 <= a.span.0 + 1;
                let gap = b.span.0.saturating_sub(a.span.1);
                (a.label != b.label && apart && gap <= CUE_WINDOW).then_some((a, b))
            })
        });
        if let Some((a, b)) = pair {
            hits.push(Hit {
                theme: theme.to_string(),
                language: a.language.to_string(),
                severity: CUE_SEVERITY + 1,
                rule: format!("{} & {}", a.label, b.label),
                context: context(norm, (a.span.0.min(b.span.0), a.span.1.max(b.span.1))),
            });
        }
        i = end;
    }
    hits.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.theme.cmp(&b.theme))
    });
    hits
}

/// Where each pattern was found, by pattern number.
type Found = HashMap<usize, Vec<(usize, usize)>, BuildHasherDefault<PatternHasher>>;

/// A pattern's number is its own hash, mixed: the map is looked up once
/// for every phrase found, tens of thousands of times in a page of
/// ordinary prose (context words), and SipHash, which defends against
/// keys an attacker chooses, was a tenth of the scan. Pattern numbers are
/// ours, not the page's.
#[derive(Default)]
struct PatternHasher(u64);

impl Hasher for PatternHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        let x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Occurrences kept per (rule, part): the first ones, left to right.
const PART_CAP: usize = 16;
/// Occurrences kept per pattern (the most a negative looks at).
const NEGATIVE_CAP: usize = 64;

/// Where every part of `rule` was found close enough together.
fn span(rule: &CompiledRule, found: &Found) -> Option<(usize, usize)> {
    // A part's occurrences in every way it is written, left to right.
    let at = |p: usize| -> Option<Vec<(usize, usize)>> {
        let mut list: Vec<(usize, usize)> = Vec::new();
        for pattern in rule.part_patterns.get(p)? {
            list.extend(found.get(pattern).into_iter().flatten());
        }
        list.sort_unstable();
        list.truncate(PART_CAP);
        (!list.is_empty()).then_some(list)
    };
    let first = at(0)?;
    let others: Vec<Vec<(usize, usize)>> = (1..rule.part_patterns.len())
        .map(at)
        .collect::<Option<_>>()?;
    'candidates: for &(s0, e0) in &first {
        let (mut lo, mut hi) = (s0, e0);
        for list in &others {
            // The occurrence nearest this candidate.
            let &(s, e) = list.iter().min_by_key(|(s, _)| s.abs_diff(s0))?;
            lo = lo.min(s);
            hi = hi.max(e);
            if rule.within > 0 && hi - lo > rule.within {
                continue 'candidates;
            }
        }
        return Some((lo, hi));
    }
    None
}

fn context(norm: &str, (start, end): (usize, usize)) -> String {
    let mut from = start.saturating_sub(CONTEXT);
    while !norm.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + CONTEXT).min(norm.len());
    while !norm.is_char_boundary(to) {
        to += 1;
    }
    norm[from..to].trim().to_string()
}

/// Which word starts could begin a pattern, judged from the bytes after
/// the space. A pattern is keyed by as much of its start as it has: its
/// first eight bytes if it has them, else its first five, else its first
/// four, else its first two and a bucket of its third. A word start passes
/// if it matches a key of any of the four kinds. It may say yes wrongly
/// (hash collisions and buckets), never no wrongly.
///
/// Keying long patterns on eight bytes matters: many phrases begin with a
/// common word (`how to ...`, `the ...`), and on three bytes every `how`
/// and `the` in a page would start a walk. Likewise five: on four, one
/// `for me` would let every `for ` through.
struct Filter {
    /// Patterns with 2 or 3 bytes after the space: indexed by the first
    /// two, a bit for the third's low five bits (all bits for 2).
    short: Box<[u32; 1 << 16]>,
    /// Bit sets over hashes of the first 4 (patterns with 4 bytes), 5
    /// (5 to 7 bytes) and 8 (longer patterns) bytes after the space.
    four: Box<[u64; 1 << (HASH_BITS - 6)]>,
    five: Box<[u64; 1 << (HASH_BITS - 6)]>,
    eight: Box<[u64; 1 << (HASH_BITS - 6)]>,
}

/// log2 of the bits in each hashed set: 32 KiB each, sparse enough for
/// ten thousand patterns to let few ordinary words through.
const HASH_BITS: u32 = 18;

#[inline(always)]
fn hash4(b: [u8; 4]) -> usize {
    (u32::from_le_bytes(b).wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// The first five of eight bytes.
#[inline(always)]
fn hash5(b: [u8; 8]) -> usize {
    hash_masked(b, 0xff_ffff_ffff)
}

#[inline(always)]
fn hash8(b: [u8; 8]) -> usize {
    hash_masked(b, u64::MAX)
}

#[inline(always)]
fn hash_masked(b: [u8; 8], mask: u64) -> usize {
    ((u64::from_le_bytes(b) & mask).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - HASH_BITS))
        as usize
}

impl Filter {
    fn new(patterns: &[String]) -> Filter {
        let mut f = Filter {
            short: Box::new([0; 1 << 16]),
            four: Box::new([0; 1 << (HASH_BITS - 6)]),
            five: Box::new([0; 1 << (HASH_BITS - 6)]),
            eight: Box::new([0; 1 << (HASH_BITS - 6)]),
        };
        for p in patterns {
            let after = p.as_bytes().get(1..).unwrap_or_default();
            match *after {
                [b0, b1, ..] if after.len() <= 3 => {
                    let slot = &mut f.short[usize::from(u16::from_le_bytes([b1, b0]))];
                    *slot |= match after.get(2) {
                        Some(&b2) => 1 << (b2 & 31),
                        None => u32::MAX,
                    };
                }
                [b0, b1, b2, b3, b4, b5, b6, b7, ..] => {
                    let h = hash8([b0, b1, b2, b3, b4, b5, b6, b7]);
                    f.eight[(h >> 6) % f.eight.len()] |= 1 << (h & 63);
                }
                [b0, b1, b2, b3, b4, ..] => {
                    let h = hash5([b0, b1, b2, b3, b4, 0, 0, 0]);
                    f.five[(h >> 6) % f.five.len()] |= 1 << (h & 63);
                }
                [b0, b1, b2, b3] => {
                    let h = hash4([b0, b1, b2, b3]);
                    f.four[(h >> 6) % f.four.len()] |= 1 << (h & 63);
                }
                // Too short to key (no pattern is): every word start
                // would have to be walked.
                _ => f.short.iter_mut().for_each(|s| *s = u32::MAX),
            }
        }
        f
    }

    /// Whether a pattern may start at a space followed by `next`.
    #[inline(always)]
    fn may_start(&self, next: [u8; 8]) -> bool {
        let [b0, b1, b2, b3, ..] = next;
        let short = self.short[usize::from(u16::from_le_bytes([b1, b0]))] >> (b2 & 31) & 1;
        let h4 = hash4([b0, b1, b2, b3]);
        let four = self.four[(h4 >> 6) % self.four.len()] >> (h4 & 63) & 1;
        let h5 = hash5(next);
        let five = self.five[(h5 >> 6) % self.five.len()] >> (h5 & 63) & 1;
        let h8 = hash8(next);
        let eight = self.eight[(h8 >> 6) % self.eight.len()] >> (h8 & 63) & 1;
        (u64::from(short) | four | five | eight) != 0
    }
}

/// Collects the word starts the [`Filter`] lets through.
struct Starts<'a> {
    filter: &'a Filter,
    candidates: Vec<usize>,
}

impl Spaces for Starts<'_> {
    #[inline]
    fn ready(&mut self, out: &[u8], spaces: &[usize]) {
        for &p in spaces {
            let next = out
                .get(p + 1..p + 1 + LOOKAHEAD)
                .and_then(|n| <[u8; LOOKAHEAD]>::try_from(n).ok());
            if next.is_none_or(|n| self.filter.may_start(n)) {
                self.candidates.push(p);
            }
        }
    }

    fn tail(&mut self, out: &[u8], spaces: &[usize]) {
        // Too near the end to index; the walk will find out.
        self.candidates
            .extend(spaces.iter().copied().filter(|&p| p + 1 < out.len()));
    }

    fn reset(&mut self) {
        self.candidates.clear();
    }
}
