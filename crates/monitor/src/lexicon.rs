//! Lexicons: one theme in one language, in a TOML file a DSL can read and
//! edit. Each rule is a phrase or a combination of phrases with a severity
//! from 1 to 5; negative contexts are phrases that, found on or near a
//! hit, say it is something else ("cut my hair", "kill the process").
//!
//! ```toml
//! theme = "self-harm"
//! language = "en"
//!
//! [[rule]]
//! phrase = "self harm"
//! severity = 4
//!
//! [[rule]]
//! all = ["cut", "myself"]   # both in the same text
//! severity = 4
//! within = 40               # characters apart at most (0: anywhere)
//!
//! [[negative]]
//! phrase = "cut my hair"
//! ```

use serde::Deserialize;

/// The themes the monitor knows.
pub const THEMES: &[&str] = &[
    "self-harm",
    "suicide",
    "eating-disorders",
    "grooming",
    "sexual-content",
    "radicalisation",
    "bullying",
    "hate",
    "drugs",
    "weapons-violence",
];

/// The words people read for a theme.
pub fn theme_label(theme: &str) -> &str {
    match theme {
        "self-harm" => "Self-harm",
        "suicide" => "Suicide",
        "eating-disorders" => "Eating disorders",
        "grooming" => "Grooming and child sexual exploitation",
        "sexual-content" => "Sexual content",
        "radicalisation" => "Radicalisation and extremism",
        "bullying" => "Bullying",
        "hate" => "Hate and discrimination",
        "drugs" => "Drugs",
        "weapons-violence" => "Weapons and violence",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexiconError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: rule {index}: {message}")]
    Rule {
        file: String,
        index: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    theme: String,
    language: String,
    #[serde(default)]
    rule: Vec<RuleFile>,
    #[serde(default)]
    negative: Vec<NegativeFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    phrase: Option<String>,
    #[serde(default)]
    all: Vec<String>,
    severity: u8,
    /// Match inside longer words too (`suicid` finds `suicidal`).
    #[serde(default)]
    prefix: bool,
    #[serde(default)]
    within: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegativeFile {
    phrase: String,
    /// Characters either side of a hit in which it counts (0: it must
    /// overlap the hit).
    #[serde(default)]
    within: usize,
}

/// One rule, ready to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As written, for people (`self harm`, `cut + myself`).
    pub label: String,
    /// The phrases, each normalised, that must all be found.
    pub parts: Vec<String>,
    pub severity: u8,
    pub prefix: bool,
    pub within: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negative {
    pub phrase: String,
    pub within: usize,
}

/// A theme's rules in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexicon {
    pub theme: String,
    pub language: String,
    pub rules: Vec<Rule>,
    pub negatives: Vec<Negative>,
}

/// The normalised form of a phrase, without the spaces around it.
pub(crate) fn phrase(text: &str) -> String {
    crate::normalise(text).trim().to_string()
}

impl Lexicon {
    /// Reads one lexicon file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Lexicon, LexiconError> {
        let raw: LexiconFile = toml::from_str(text).map_err(|e| LexiconError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        if !THEMES.contains(&raw.theme.as_str()) {
            return Err(LexiconError::Parse {
                file: file.into(),
                message: format!(
                    "unknown theme {:?} (known: {})",
                    raw.theme,
                    THEMES.join(", ")
                ),
            });
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (index, r) in raw.rule.into_iter().enumerate() {
            let bad = |message: String| LexiconError::Rule {
                file: file.into(),
                index: index + 1,
                message,
            };
            if !(1..=5).contains(&r.severity) {
                return Err(bad(format!("severity {} is not 1 to 5", r.severity)));
            }
            let written: Vec<String> = match (r.phrase, r.all.is_empty()) {
                (Some(p), true) => vec![p],
                (None, false) => r.all,
                _ => return Err(bad("give a phrase or all = [...], not both".into())),
            };
            let parts: Vec<String> = written.iter().map(|p| phrase(p)).collect();
            if parts.iter().any(|p| p.chars().count() < 2) {
                return Err(bad(
                    "a phrase is at least two letters once normalised".into()
                ));
            }
            rules.push(Rule {
                label: written.join(" + "),
                parts,
                severity: r.severity,
                prefix: r.prefix,
                within: r.within,
            });
        }
        let negatives = raw
            .negative
            .into_iter()
            .map(|n| Negative {
                phrase: phrase(&n.phrase),
                within: n.within,
            })
            .filter(|n| !n.phrase.is_empty())
            .collect();
        Ok(Lexicon {
            theme: raw.theme,
            language: raw.language,
            rules,
            negatives,
        })
    }
}

/// The lexicons that ship with Tutela (written for Tutela; see
/// `lexicons/README.md`): every theme in every language, as
/// (`<language>/<theme>.toml`, its text).
pub fn built_in() -> Vec<(&'static str, &'static str)> {
    /// One language's files, a theme each, in the order of [`THEMES`].
    macro_rules! language {
        ($lang:literal) => {
            [
                language!(@file $lang "self-harm"),
                language!(@file $lang "suicide"),
                language!(@file $lang "eating-disorders"),
                language!(@file $lang "grooming"),
                language!(@file $lang "sexual-content"),
                language!(@file $lang "radicalisation"),
                language!(@file $lang "bullying"),
                language!(@file $lang "hate"),
                language!(@file $lang "drugs"),
                language!(@file $lang "weapons-violence"),
            ]
        };
        (@file $lang:literal $theme:literal) => {
            (
                concat!($lang, "/", $theme, ".toml"),
                include_str!(concat!("../lexicons/", $lang, "/", $theme, ".toml")),
            )
        };
    }
    [
        language!("en"),
        language!("pl"),
        language!("ro"),
        language!("es"),
        language!("fr"),
        language!("ar"),
        language!("cy"),
        language!("ur-latn"),
    ]
    .into_iter()
    .flatten()
    .collect()
}
