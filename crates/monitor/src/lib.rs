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

/// The built-in lexicons, parsed.
pub fn built_in_lexicons() -> Result<Vec<Lexicon>, LexiconError> {
    built_in_lexicons_with(&[])
}

/// The built-in lexicons with `edits` (file name, text) in place of theirs,
/// as a DSL edited them in the console; an edit may also add a file.
pub fn built_in_lexicons_with(edits: &[(String, String)]) -> Result<Vec<Lexicon>, LexiconError> {
    let mut files: Vec<(&str, &str)> = lexicon::built_in();
    for (file, text) in edits {
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
