//! How children spell what the lexicons say. Two things, both decided when
//! the scanner is built so that scanning ordinary text costs nothing more:
//!
//! - **Spellings** (`lexicons/spellings.toml`): `tonight` is also written
//!   `tonite` and `2nite`, `want to` is `wanna`, `suicide` is `sucide`.
//!   Every rule and negative is compiled once for each way its words are
//!   written, so one rule serves all of them and no lexicon lists them.
//! - **Masked words** (`c*tting`, `s**cide`, `*uicide`): the normaliser
//!   keeps a `*` that touches a letter, and a text with one is read again
//!   with each masked word replaced by the lexicon word it can stand for.
//!   Only lexicon words are candidates, so a mask can only ever reveal a
//!   word some rule or negative uses.

use std::collections::HashMap;

use crate::lexicon::LexiconError;

/// The most forms one phrase is compiled into, so that a phrase full of
/// common words (`you`, `your`, `want to`) cannot swell the automaton.
const MOST_FORMS: usize = 32;

/// Words and phrases (normalised) and the other ways they are written.
#[derive(Debug, Clone, Default)]
pub struct Spellings {
    others: HashMap<String, Vec<String>>,
    /// Words in the longest key, so a phrase is searched for keys of up
    /// to this many words.
    longest_key: usize,
}

/// `lexicons/spellings.toml`: a table per language, for people; every
/// entry applies to every lexicon, since every lexicon sees every text.
type SpellingsFile = HashMap<String, HashMap<String, Vec<String>>>;

/// The text of the spellings that ship with Tutela.
pub const BUILT_IN: &str = include_str!("../lexicons/spellings.toml");

impl Spellings {
    /// The spellings that ship with Tutela.
    pub fn built_in() -> Result<Spellings, LexiconError> {
        Spellings::parse(crate::SPELLINGS_FILE, BUILT_IN)
    }

    /// Reads a spellings file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Spellings, LexiconError> {
        let bad = |message: String| LexiconError::Parse {
            file: file.to_string(),
            message,
        };
        let raw: SpellingsFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut spellings = Spellings::default();
        for (language, table) in raw {
            for (word, others) in table {
                let key = crate::lexicon::phrase(&word);
                if key.chars().count() < 2 {
                    return Err(bad(format!(
                        "[{language}] {word:?}: a word is at least two letters once normalised"
                    )));
                }
                for other in others {
                    let spelling = crate::lexicon::phrase(&other);
                    if spelling.is_empty() || spelling == key {
                        return Err(bad(format!(
                            "[{language}] {word:?}: {other:?} is not another spelling of it once normalised"
                        )));
                    }
                    let list = spellings.others.entry(key.clone()).or_default();
                    if !list.contains(&spelling) {
                        list.push(spelling);
                    }
                }
                spellings.longest_key = spellings.longest_key.max(key.split(' ').count());
            }
        }
        // Map order is not stable; the forms of a phrase must be, so that
        // two builds compile the same patterns.
        for list in spellings.others.values_mut() {
            list.sort();
        }
        Ok(spellings)
    }

    /// `phrase` (normalised, no spaces around it) and the other ways it is
    /// written, the phrase itself first, at most [`MOST_FORMS`]. With
    /// `open_end`, the last word is a stem (a prefix rule) and kept as it
    /// is.
    pub fn forms(&self, phrase: &str, open_end: bool) -> Vec<String> {
        let words: Vec<&str> = phrase.split(' ').collect();
        let fixed_end = if open_end {
            words.len().saturating_sub(1)
        } else {
            words.len()
        };
        let mut forms = vec![String::new()];
        let mut i = 0;
        while i < words.len() {
            // The longest key starting here, if any.
            let key = (1..=self.longest_key.min(fixed_end.saturating_sub(i)))
                .rev()
                .find_map(|n| {
                    let key = words[i..i + n].join(" ");
                    self.others.get(&key).map(|others| (n, key, others))
                });
            let (n, written, others) = match key {
                Some((n, key, others)) => (n, key, others.as_slice()),
                None => (1, words[i].to_string(), &[][..]),
            };
            let mut next = Vec::with_capacity(forms.len() * (1 + others.len()));
            for form in &forms {
                for w in std::iter::once(&written).chain(others) {
                    if next.len() >= MOST_FORMS {
                        break;
                    }
                    let mut f = form.clone();
                    if !f.is_empty() {
                        f.push(' ');
                    }
                    f.push_str(w);
                    next.push(f);
                }
            }
            forms = next;
            i += n;
        }
        forms.dedup();
        forms
    }
}

/// A phrase as the automaton looks for it: whole words, or a word's start
/// for a prefix rule.
pub(crate) fn pattern(form: &str, prefix: bool) -> String {
    if prefix {
        format!(" {form}")
    } else {
        format!(" {form} ")
    }
}

/// The lexicon words a masked word may stand for, most used first.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    words: Vec<Vec<char>>,
}

impl Vocabulary {
    /// The words of `patterns` (as compiled, spaces around), three
    /// characters or more, ordered by how many patterns use each.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Vocabulary {
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for p in patterns {
            for w in p.split(' ').filter(|w| w.chars().count() >= 3) {
                *uses.entry(w).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = uses.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        Vocabulary {
            words: ranked
                .into_iter()
                .map(|(w, _)| w.chars().collect())
                .collect(),
        }
    }

    /// `norm` (normalised text) with each masked word it has replaced by
    /// the lexicon word it can stand for, or `None` if it has none.
    pub fn unmask(&self, norm: &str) -> Option<String> {
        if !norm.contains('*') {
            return None;
        }
        let mut out = String::with_capacity(norm.len() + 8);
        let mut changed = false;
        for (i, word) in norm.split(' ').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match self.reveal(word) {
                Some(w) => {
                    out.extend(w);
                    changed = true;
                }
                None => out.push_str(word),
            }
        }
        changed.then_some(out)
    }

    /// The first word a masked word matches, where a run of `k` stars
    /// stands for 1 to `k` characters. A word needs at least two letters
    /// and as many letters as stars: `f***` says too little to read.
    fn reveal(&self, word: &str) -> Option<&[char]> {
        if !word.contains('*') {
            return None;
        }
        let masked: Vec<char> = word.chars().collect();
        let stars = masked.iter().filter(|&&c| c == '*').count();
        let letters = masked.len() - stars;
        if letters < 2 || letters < stars {
            return None;
        }
        self.words
            .iter()
            .find(|w| w.len() >= letters && w.len() <= masked.len() && matches(&masked, w))
            .map(Vec::as_slice)
    }
}

/// Whether `word` fits `masked`, each run of stars standing for one
/// character or more, at most as many as the run has stars.
fn matches(masked: &[char], word: &[char]) -> bool {
    match masked.first() {
        None => word.is_empty(),
        Some('*') => {
            let run = masked.iter().take_while(|&&c| c == '*').count();
            (1..=run.min(word.len())).any(|n| matches(&masked[run..], &word[n..]))
        }
        Some(c) => word.first() == Some(c) && matches(&masked[1..], &word[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spellings() -> Spellings {
        Spellings::parse(
            "test.toml",
            r#"
            [en]
            tonight = ["tonite", "2nite"]
            "want to" = ["wanna"]
            you = ["u"]
            "#,
        )
        .expect("parses")
    }

    #[test]
    fn a_phrase_is_compiled_in_each_way_it_is_written() {
        let s = spellings();
        assert_eq!(
            s.forms("want to die tonight", false),
            vec![
                "want to die tonight",
                "want to die 2nite",
                "want to die tonite",
                "wana die tonight",
                "wana die 2nite",
                "wana die tonite",
            ]
        );
        assert_eq!(s.forms("hate myself", false), vec!["hate myself"]);
        // A prefix rule's last word is a stem, never respelled.
        assert_eq!(s.forms("see you", true), vec!["see you"]);
        assert_eq!(s.forms("you can", true), vec!["you can", "u can"]);
        // Common words everywhere cannot multiply a phrase without bound.
        let long = "you ".repeat(12);
        assert_eq!(s.forms(long.trim(), false).len(), MOST_FORMS);
    }

    #[test]
    fn broken_spellings_say_what_is_wrong() {
        for (text, says) in [
            ("[en]\nx = [\"y\"]", "at least two letters"),
            ("[en]\nkill = [\"k!ll\"]", "not another spelling"),
            ("[en]\nkill = \"kil\"", "invalid type"),
        ] {
            let e = Spellings::parse("spellings.toml", text).expect_err(text);
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().contains("spellings.toml"), "{e}");
        }
    }

    #[test]
    fn masked_words_are_read_as_the_lexicon_word_they_hide() {
        let v = Vocabulary::new([" suicide ", " cuting ", " kil myself ", " cat "]);
        for (masked, read) in [
            (" c*ting again ", Some(" cuting again ")),
            (" s**cide ", Some(" suicide ")),
            (" *uicide ", Some(" suicide ")),
            (" k*l myself ", Some(" kil myself ")),
            (" suic*de and c*t ", Some(" suicide and cat ")),
            // Too little to read, or nothing in the lexicons it fits.
            (" f*** ", None),
            (" a*b ", None),
            // A star stands for at least one character.
            (" s*icide* ", None),
            (" no stars ", None),
        ] {
            assert_eq!(v.unmask(masked).as_deref(), read, "{masked}");
        }
    }
}
