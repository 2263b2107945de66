//! The monitor's first implementation, kept as the reference the fast
//! path is tested against: a separate normalisation pass that builds the
//! whole normalised string, then an unanchored Aho-Corasick search over it.
//! Slow but simple, so a property test can hold the fast path to it.

#![allow(dead_code)]

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::lexicon::Lexicon;
use crate::scan::{finish, BuildError, Hit, Scored};
use crate::spelling::{pattern, Spellings, Vocabulary};

/// Leetspeak digits and symbols, read as letters next to a letter.
fn leet(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        b'8' => b'b',
        b'@' => b'a',
        b'$' => b's',
        b'!' => b'i',
        b'|' => b'l',
        _ => return None,
    })
}

/// Normalises `text` into `out` (cleared first), so a caller scanning many
/// texts reuses one buffer.
///
/// Every decision depends only on a character's neighbours: leetspeak is
/// read from the characters either side, whatever else is in the text, and
/// every run of one-character words is joined, in any script.
pub fn normalise_into(text: &str, out: &mut String) {
    out.clear();
    // Decompose, drop the accents, and fold what is left to ASCII where
    // it has an ASCII letter; other scripts (Arabic, say) stay as they
    // are, lower-cased.
    let folded: Vec<char> = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|&c| c != '\u{640}')
        .map(|c| match c {
            'ß' => 's',
            'ł' => 'l',
            'ø' => 'o',
            'đ' => 'd',
            '\u{2019}' | '\u{2018}' | '\u{02bc}' => '\'',
            'ة' => 'ه',
            'ى' | 'ی' => 'ي',
            'ک' => 'ك',
            'ٱ' => 'ا',
            '٠'..='٩' => char::from_digit(c as u32 - '٠' as u32, 10).unwrap_or(c),
            '۰'..='۹' => char::from_digit(c as u32 - '۰' as u32, 10).unwrap_or(c),
            c => c,
        })
        .collect();
    chars(&folded, out);
    join_spelled_out(out);
}

/// A character at a time: ASCII letters lower-cased, leetspeak read next
/// to an ASCII letter, letters and digits of other scripts kept, the rest
/// a space; repeated letters and spaces folded, digits not.
fn chars(text: &[char], out: &mut String) {
    let mut last = ' ';
    out.push(' ');
    for (i, &c) in text.iter().enumerate() {
        let mapped = if c.is_ascii_alphabetic() {
            c.to_ascii_lowercase()
        } else if c == '\'' {
            // "don't" is "dont".
            continue;
        } else if c == '*' {
            // The star of a masked word (`c*tting`), each one kept.
            let next_is_letter = text.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic());
            if last.is_ascii_lowercase() || last == '*' || next_is_letter {
                out.push('*');
                last = '*';
                continue;
            }
            ' '
        } else if let Some(l) = u8::try_from(c).ok().and_then(leet) {
            let next_is_letter = text.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic());
            // A digit touching a letter is a letter (`h4rm`); a symbol only
            // before one (`$uicide`, `k!ll`), so `harm!!!` stays `harm`.
            let in_word = if c.is_ascii_digit() {
                last.is_ascii_lowercase() || next_is_letter
            } else {
                next_is_letter
            };
            if in_word {
                char::from(l)
            } else if c.is_ascii_digit() {
                c
            } else {
                ' '
            }
        } else if c.is_ascii_digit() || (!c.is_ascii() && c.is_alphanumeric()) {
            c
        } else {
            ' '
        };
        if mapped == last && !mapped.is_numeric() {
            continue;
        }
        out.push(mapped);
        last = mapped;
    }
    if last != ' ' {
        out.push(' ');
    }
}

/// Joins runs of three or more one-character words: ` k i l l ` → ` kil `.
fn join_spelled_out(out: &mut String) {
    // Cheap test first: most text has no such run.
    let mut run = 0;
    let found = out.split(' ').filter(|w| !w.is_empty()).any(|w| {
        run = if w.chars().count() == 1 { run + 1 } else { 0 };
        run >= 3
    });
    if !found {
        return;
    }
    let words: Vec<&str> = out.split(' ').filter(|w| !w.is_empty()).collect();
    let mut joined: Vec<String> = Vec::with_capacity(words.len());
    let mut k = 0;
    while k < words.len() {
        let mut j = k;
        while j < words.len() && words[j].chars().count() == 1 {
            j += 1;
        }
        if j - k >= 3 {
            let mut w: String = String::new();
            for piece in &words[k..j] {
                if !w.ends_with(*piece) {
                    w.push_str(piece);
                }
            }
            joined.push(w);
            k = j;
        } else {
            joined.push(words[k].to_string());
            k += 1;
        }
    }
    let mut rebuilt = String::with_capacity(out.len());
    rebuilt.push(' ');
    for w in joined {
        rebuilt.push_str(&w);
        rebuilt.push(' ');
    }
    *out = rebuilt;
}

/// [`normalise_into`] into a new string.
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    normalise_into(text, &mut out);
    out
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

pub struct Scanner {
    automaton: AhoCorasick,
    uses: Vec<Vec<Use>>,
    rules: Vec<CompiledRule>,
    negatives: Vec<CompiledNegative>,
    lexicons: Vec<(String, String)>,
    vocabulary: Vocabulary,
}

impl Scanner {
    pub fn new(lexicons: &[Lexicon]) -> Result<Scanner, BuildError> {
        let spellings = Spellings::built_in().map_err(|e| BuildError(e.to_string()))?;
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
                    for form in spellings.forms(text, r.prefix) {
                        add(
                            pattern(&form, r.prefix),
                            Use::Part { rule, part },
                            &mut patterns,
                            &mut uses,
                        );
                    }
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
                for form in spellings.forms(&n.phrase, false) {
                    add(
                        pattern(&form, false),
                        Use::Negative { negative },
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
        // A full DFA: every pattern starts with a space, so no prefilter
        // can skip ahead, and the DFA's one table lookup a byte is the
        // fastest walk.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Scanner {
            vocabulary: Vocabulary::new(patterns.iter().map(String::as_str)),
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
        if let Some(unmasked) = self.vocabulary.unmask(buffer) {
            *buffer = unmasked;
        }
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
                        parts
                            .entry((rule, part))
                            .or_default()
                            .push((m.start(), m.end()));
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
        // The first occurrences of each part, left to right, in every way
        // it is written.
        for at in parts.values_mut() {
            at.sort_unstable();
            at.truncate(16);
        }
        if parts.is_empty() {
            return Vec::new();
        }
        let mut rules: Vec<usize> = parts.keys().map(|(r, _)| *r).collect();
        rules.sort_unstable();
        rules.dedup();
        let mut scored = Vec::new();
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
            scored.push(Scored {
                theme,
                language,
                label: &rule.label,
                severity: rule.severity,
                span,
            });
        }
        // Making hits and weighing cues is not what this oracle checks
        // (the walk and the normaliser are), so it is the same code.
        finish(scored, norm)
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::built_in_lexicons;

    /// Pieces that exercise every branch of normalisation: case, leetspeak
    /// next to letters and not, repeats, apostrophes, spelled-out letters,
    /// accents that fold to ASCII, quotes that do not, other scripts,
    /// combining marks, and characters that decompose into several.
    const PIECES: &[&str] = &[
        "\u{640}",
        "انتحـــار",
        "ة",
        "ى",
        "ی",
        "ک",
        "ٱ",
        "٥",
        "۵",
        "٣ ٤",
        "ـ١",
        "أَ",
        " ",
        "  ",
        ".",
        ",",
        "!",
        "!!",
        "?",
        "-",
        "'",
        "’",
        "“",
        "”",
        "\u{a0}",
        "…",
        "—",
        "\n",
        "\t",
        "a",
        "b",
        "i",
        "k",
        "l",
        "x",
        "A",
        "K",
        "L",
        "0",
        "1",
        "3",
        "4",
        "5",
        "7",
        "8",
        "2",
        "9",
        "@",
        "$",
        "|",
        "h4rm",
        "s3lf",
        "su1c1de",
        "$uicide",
        "k!ll",
        "*",
        "c*tting",
        "s**cide",
        "*uicide",
        "tonite",
        "wanna",
        "k i l l",
        "l l l",
        "a b c",
        "1 2 3",
        "é",
        "É",
        "café",
        "naïve",
        "e\u{301}",
        "\u{301}",
        "ß",
        "ł",
        "ø",
        "đ",
        "İ",
        "ﬁ",
        "²",
        "Ⅻ",
        "ا",
        "ب",
        "ت",
        "ا ب ت",
        "انتحار",
        "Σ",
        "ς",
        "日本",
        "🙂",
        "\u{200b}",
        "<b>",
        "&amp;",
        "2026",
        "don't",
        "kiiiill",
        "myseeeelf",
        "the",
        "and",
        "want",
        "to",
        "die",
        "kill",
        "myself",
        "self",
        "harm",
        "purge",
        "how",
        "suicide",
        "methods",
        "cut",
        "hair",
        "overdose",
        "paracetamol",
        // Eight-byte runs of letters and spaces, which the fast loop
        // copies a word at a time, and the bytes either side of the
        // letters that a carry could confuse with them.
        "Morning Everyone",
        "ab cd ef gh ij",
        "\u{0}",
        "@[`{",
        "Zz Aa",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(PIECES).prop_map(str::to_string),
                1 => "\\PC{0,3}",
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    /// Lexicon phrases with noise between them, so rules and negatives fire.
    fn page(phrases: Vec<String>) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(phrases),
                3 => prop::sample::select(PIECES).prop_map(str::to_string),
                1 => "[a-z ]{0,12}",
            ],
            0..60,
        )
        .prop_map(|v| v.join(" "))
    }

    fn phrases_of(lexicons: &[crate::Lexicon]) -> Vec<String> {
        let mut out = Vec::new();
        for l in lexicons.iter().cloned() {
            for r in l.rules {
                out.extend(r.parts);
            }
            out.extend(l.negatives.into_iter().map(|n| n.phrase));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn normalises_as_the_reference_does(t in text()) {
            prop_assert_eq!(crate::normalise(&t), super::normalise(&t));
        }

        /// A text reads the same after a line of typography (quotes, a
        /// dash, a copyright sign, Arabic): nothing is decided by what
        /// else is in the text.
        #[test]
        fn normalisation_is_local(
            t in text(),
            line in prop::sample::select(&[
                "\u{201c}quoted\u{201d} \u{2014}",
                "\u{a9} quoted.",
                "caf\u{e9} quoted",
                "quoted \u{627}\u{646}\u{62a}\u{62d}\u{627}\u{631}",
                "x y z quoted",
            ][..]),
        ) {
            let alone = crate::normalise(&t);
            let with_line = crate::normalise(&format!("{line} {t}"));
            let line_only = crate::normalise(line);
            prop_assert_eq!(&with_line, &format!("{}{alone}", line_only.trim_end()));
            prop_assert_eq!(super::normalise(&format!("{line} {t}")), with_line);
        }
    }

    #[test]
    fn scans_as_the_reference_does() {
        let lexicons = built_in_lexicons().expect("built-in lexicons");
        let fast = crate::Scanner::new(&lexicons).expect("compile");
        let slow = super::Scanner::new(&lexicons).expect("compile");
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
        runner
            .run(&page(phrases_of(&lexicons)), |t| {
                prop_assert_eq!(fast.scan(&t), slow.scan(&t), "{:?}", t);
                Ok(())
            })
            .expect("same hits");
    }

    /// Texts longer than a block of the fast loop and than a batch of the
    /// join's reporting, so state carried between them is exercised.
    #[test]
    fn long_texts_scan_as_the_reference_does() {
        let lexicons = built_in_lexicons().expect("built-in lexicons");
        let fast = crate::Scanner::new(&lexicons).expect("compile");
        let slow = super::Scanner::new(&lexicons).expect("compile");
        let long =
            prop::collection::vec(page(phrases_of(&lexicons)), 1..12).prop_map(|v| v.concat());
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
        runner
            .run(&long, |t| {
                prop_assert_eq!(crate::normalise(&t), super::normalise(&t));
                prop_assert_eq!(fast.scan(&t), slow.scan(&t));
                Ok(())
            })
            .expect("same hits");
        // Spelled-out letters throughout a long text (the join rewrites it
        // in place and reports its spaces in batches).
        let t = "a b c want to die k i l l myself ".repeat(400) + &"x y ".repeat(900);
        assert_eq!(crate::normalise(&t), super::normalise(&t));
        assert_eq!(fast.scan(&t), slow.scan(&t));
    }

    /// Every lexicon file on disk, in whatever languages and scripts are
    /// there, whether or not `built_in()` lists it yet.
    fn on_disk() -> Vec<crate::Lexicon> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = f.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if let Ok(l) = crate::Lexicon::parse(&path.display().to_string(), &text) {
                        out.push(l);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_language_scans_as_the_reference_does() {
        let lexicons = on_disk();
        let fast = crate::Scanner::new(&lexicons).expect("compile");
        let slow = super::Scanner::new(&lexicons).expect("compile");
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
        runner
            .run(&page(phrases_of(&lexicons)), |t| {
                prop_assert_eq!(fast.scan(&t), slow.scan(&t), "{:?}", t);
                Ok(())
            })
            .expect("same hits");
    }
}
