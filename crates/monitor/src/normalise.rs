//! Text as the lexicons see it: lower case, no diacritics, leetspeak read
//! as letters, punctuation as spaces, repeated letters as one, and letters
//! spelled out with spaces (`k i l l`) joined. Lexicon phrases go through
//! the same function, so a rule and the text it should match always meet
//! in the same form.
//!
//! The output starts and ends with a space and has one space between
//! words, so a whole-word phrase is just the phrase with a space each side.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

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
pub fn normalise_into(text: &str, out: &mut String) {
    out.clear();
    out.reserve(text.len() + 2);
    if text.is_ascii() {
        ascii(text.as_bytes(), out);
    } else {
        // Decompose, drop the accents, and fold what is left to ASCII where
        // it has an ASCII letter; other scripts (Arabic, say) stay as they
        // are, lower-cased.
        let folded: String = text
            .nfkd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                'ß' => 's',
                'ł' => 'l',
                'ø' => 'o',
                'đ' => 'd',
                '\u{2019}' | '\u{2018}' | '\u{02bc}' => '\'',
                c => c,
            })
            .collect();
        if folded.is_ascii() {
            ascii(folded.as_bytes(), out);
        } else {
            general(&folded, out);
        }
    }
    join_spelled_out(out);
}

/// The common case, a byte at a time.
fn ascii(bytes: &[u8], out: &mut String) {
    let mut last: u8 = b' ';
    out.push(' ');
    for (i, &b) in bytes.iter().enumerate() {
        let lower = b.to_ascii_lowercase();
        let mapped = if lower.is_ascii_lowercase() {
            lower
        } else if b == b'\'' {
            // "don't" is "dont".
            continue;
        } else if let Some(l) = leet(b) {
            let next_is_letter = bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic());
            // A digit touching a letter is a letter (`h4rm`); a symbol only
            // before one (`$uicide`, `k!ll`), so `harm!!!` stays `harm`.
            let in_word = if b.is_ascii_digit() {
                last.is_ascii_lowercase() || next_is_letter
            } else {
                next_is_letter
            };
            if in_word {
                l
            } else if b.is_ascii_digit() {
                b
            } else {
                b' '
            }
        } else if b.is_ascii_digit() {
            b
        } else {
            b' '
        };
        if mapped == last && (mapped == b' ' || mapped.is_ascii_lowercase()) {
            continue;
        }
        out.push(mapped as char);
        last = mapped;
    }
    if last != b' ' {
        out.push(' ');
    }
}

/// Any script: letters and digits kept, the rest a space, repeats folded.
fn general(text: &str, out: &mut String) {
    let mut last = ' ';
    out.push(' ');
    for c in text.chars() {
        let mapped = if c.is_alphanumeric() {
            c
        } else if c == '\'' {
            continue;
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

/// Joins runs of three or more one-letter words: ` k i l l ` → ` kil `.
fn join_spelled_out(out: &mut String) {
    // Cheap test first: most text has no such run.
    let b = out.as_bytes();
    let mut run = 0;
    let mut found = false;
    let mut i = 1;
    while i + 1 < b.len() {
        if b[i - 1] == b' ' && b[i] != b' ' && b[i + 1] == b' ' && b[i].is_ascii() {
            run += 1;
            if run >= 3 {
                found = true;
                break;
            }
            i += 2;
        } else {
            run = 0;
            i += 1;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn children_s_spellings_meet_the_plain_form() {
        for (typed, plain) in [
            ("Self Harm", " self harm "),
            ("s3lf h4rm", " self harm "),
            ("SELF-HARM!!!", " self harm "),
            ("k i l l myself", " kil myself "),
            ("kiiiiill myseeeelf", " kil myself "),
            ("kill myself", " kil myself "),
            ("Anorexía", " anorexia "),
            ("don't", " dont "),
            ("su1c1de", " suicide "),
            ("$uicide", " suicide "),
            ("year 2026 budget", " year 2026 budget "),
            ("", " "),
        ] {
            assert_eq!(normalise(typed), plain, "{typed}");
        }
    }

    #[test]
    fn other_scripts_are_kept() {
        assert_eq!(normalise("انتحار"), " انتحار ");
        assert_eq!(normalise("Samobójstwo"), " samobojstwo ");
        assert_eq!(normalise("sinucidere"), " sinucidere ");
    }
}
