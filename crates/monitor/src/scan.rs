//! Every lexicon compiled into one Aho-Corasick automaton, run once over
//! the normalised text.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::lexicon::Lexicon;
use crate::normalise::normalise_into;

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
    Part { rule: usize, part: usize },
    Negative { negative: usize },
}

#[derive(Debug)]
struct CompiledRule {
    lexicon: usize,
    label: String,
    severity: u8,
    parts: usize,
    within: usize,
}

#[derive(Debug)]
struct CompiledNegative {
    lexicon: usize,
    within: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the lexicons cannot be compiled: {0}")]
pub struct BuildError(String);

/// Characters of context each side of a hit.
const CONTEXT: usize = 60;

pub struct Scanner {
    automaton: AhoCorasick,
    uses: Vec<Vec<Use>>,
    rules: Vec<CompiledRule>,
    negatives: Vec<CompiledNegative>,
    lexicons: Vec<(String, String)>,
}

impl Scanner {
    pub fn new(lexicons: &[Lexicon]) -> Result<Scanner, BuildError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut uses: Vec<Vec<Use>> = Vec::new();
        let mut add =
            |pattern: String, u: Use, patterns: &mut Vec<String>, uses: &mut Vec<Vec<Use>>| {
                let id = *index.entry(pattern.clone()).or_insert_with(|| {
                    patterns.push(pattern);
                    uses.push(Vec::new());
                    patterns.len() - 1
                });
                uses[id].push(u);
            };
        let mut rules = Vec::new();
        let mut negatives = Vec::new();
        for (l, lex) in lexicons.iter().enumerate() {
            for r in &lex.rules {
                let rule = rules.len();
                for (part, text) in r.parts.iter().enumerate() {
                    // Whole words, or a word's start for a prefix rule.
                    let pattern = if r.prefix {
                        format!(" {text}")
                    } else {
                        format!(" {text} ")
                    };
                    add(pattern, Use::Part { rule, part }, &mut patterns, &mut uses);
                }
                rules.push(CompiledRule {
                    lexicon: l,
                    label: r.label.clone(),
                    severity: r.severity,
                    parts: r.parts.len(),
                    within: r.within,
                });
            }
            for n in &lex.negatives {
                let negative = negatives.len();
                add(
                    format!(" {} ", n.phrase),
                    Use::Negative { negative },
                    &mut patterns,
                    &mut uses,
                );
                negatives.push(CompiledNegative {
                    lexicon: l,
                    within: n.within,
                });
            }
        }
        // A full DFA: every pattern starts with a space, so no prefilter
        // can skip ahead, and the DFA's one table lookup a byte is the
        // fastest walk.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Scanner {
            automaton,
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
        normalise_into(text, buffer);
        self.scan_normalised(buffer)
    }

    fn scan_normalised(&self, norm: &str) -> Vec<Hit> {
        // Where each rule part and each negative was found (start, end).
        let mut parts: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
        let mut negatives: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for m in self.automaton.find_overlapping_iter(norm) {
            for u in &self.uses[m.pattern().as_usize()] {
                match *u {
                    Use::Part { rule, part } => {
                        let at = parts.entry((rule, part)).or_default();
                        if at.len() < 16 {
                            at.push((m.start(), m.end()));
                        }
                    }
                    Use::Negative { negative } => {
                        let at = negatives.entry(negative).or_default();
                        if at.len() < 64 {
                            at.push((m.start(), m.end()));
                        }
                    }
                }
            }
        }
        if parts.is_empty() {
            return Vec::new();
        }
        let mut rules: Vec<usize> = parts.keys().map(|(r, _)| *r).collect();
        rules.sort_unstable();
        rules.dedup();
        let mut hits = Vec::new();
        for r in rules {
            let rule = &self.rules[r];
            let Some(span) = self.span(r, rule, &parts) else {
                continue;
            };
            let negated = negatives.iter().any(|(n, at)| {
                let neg = &self.negatives[*n];
                neg.lexicon == rule.lexicon
                    && at
                        .iter()
                        .any(|(s, e)| *s <= span.1 + neg.within && span.0 <= *e + neg.within)
            });
            if negated {
                continue;
            }
            let (theme, language) = &self.lexicons[rule.lexicon];
            hits.push(Hit {
                theme: theme.clone(),
                language: language.clone(),
                severity: rule.severity,
                rule: rule.label.clone(),
                context: context(norm, span),
            });
        }
        hits.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.theme.cmp(&b.theme))
        });
        hits
    }

    /// Where every part of `rule` was found close enough together.
    fn span(
        &self,
        r: usize,
        rule: &CompiledRule,
        parts: &HashMap<(usize, usize), Vec<(usize, usize)>>,
    ) -> Option<(usize, usize)> {
        let first = parts.get(&(r, 0))?;
        'candidates: for &(s0, e0) in first {
            let (mut lo, mut hi) = (s0, e0);
            for p in 1..rule.parts {
                let at = parts.get(&(r, p))?;
                // The occurrence nearest this candidate.
                let &(s, e) = at.iter().min_by_key(|(s, _)| s.abs_diff(s0))?;
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
