//! Safeguarding risk detection, with no I/O: per-theme lexicons in
//! editable TOML files ([`lexicon`]), the normalisation that makes
//! `s3lf h4rm` and `k i l l` meet their plain forms ([`normalise`]), the
//! other ways children spell a rule's words and masked words
//! ([`spelling`]), one
//! automaton that scores search terms, URLs, titles and page text into hits
//! with theme, severity, rule and context ([`scan`]), raw HTML read as the
//! page's text ([`html`]), and the escalation of
//! repeated blocked attempts ([`escalation`]).

pub mod escalation;
pub mod html;
pub mod lexicon;
pub mod normalise;
#[cfg(any(test, feature = "reference"))]
#[doc(hidden)]
pub mod reference;
pub mod scan;
pub mod spelling;
pub mod url;

pub use escalation::{AttemptTracker, Escalation, EscalationRule};
pub use html::{html_text, html_text_into, html_title};
pub use lexicon::{theme_label, Lexicon, LexiconError};
pub use normalise::{normalise, normalise_into};
pub use scan::{Hit, HtmlBuffers, Scanner};
pub use spelling::Spellings;
pub use url::decode_url;

/// The spellings file among the files a DSL may edit, beside the
/// lexicons (`en/suicide.toml`).
pub const SPELLINGS_FILE: &str = "spellings.toml";

/// Why the lexicons and spellings, with a DSL's edits, do not make a
/// scanner.
#[derive(Debug, thiserror::Error)]
pub enum EditsError {
    #[error(transparent)]
    Lexicon(#[from] LexiconError),
    #[error(transparent)]
    Build(#[from] scan::BuildError),
}

/// The built-in lexicons, parsed.
pub fn built_in_lexicons() -> Result<Vec<Lexicon>, LexiconError> {
    built_in_lexicons_with(&[])
}

/// The built-in lexicons with `edits` (file name, text) in place of theirs,
/// as a DSL edited them in the console; an edit may also add a file. An
/// edit of [`SPELLINGS_FILE`] is not a lexicon, and is left out.
pub fn built_in_lexicons_with(edits: &[(String, String)]) -> Result<Vec<Lexicon>, LexiconError> {
    let mut files: Vec<(&str, &str)> = lexicon::built_in();
    for (file, text) in edits.iter().filter(|(f, _)| f != SPELLINGS_FILE) {
        match files.iter_mut().find(|(f, _)| f == file) {
            Some(slot) => slot.1 = text,
            None => files.push((file, text)),
        }
    }
    files
        .into_iter()
        .map(|(file, text)| Lexicon::parse(file, text))
        .collect()
}

/// The scanner for the built-in lexicons and spellings with `edits` (file
/// name, text) in place of theirs: what the monitor runs, and what the
/// console compiles an edit into before it saves it.
pub fn scanner_with_edits(edits: &[(String, String)]) -> Result<Scanner, EditsError> {
    let lexicons = built_in_lexicons_with(edits)?;
    let spellings = match edits.iter().rev().find(|(f, _)| f == SPELLINGS_FILE) {
        Some((file, text)) => Spellings::parse(file, text)?,
        None => Spellings::built_in()?,
    };
    Ok(Scanner::with_spellings(&lexicons, &spellings)?)
}
