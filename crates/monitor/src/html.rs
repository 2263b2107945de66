//! The text a page shows, from raw HTML, for the scanner.
//!
//! Scanned as plain text, markup makes words of its own: `</p><p>` leaves
//! one-letter words (`p p`) that the spelled-out-letters join glues to
//! whatever one-letter words are near, and scripts and styles bury the
//! prose in identifiers. So tags, comments, and the contents of `script`,
//! `style`, `noscript` and `title` are dropped (the title is read on its
//! own with [`html_title`], so a caller can tell a title hit from a page
//! hit), the common character references are decoded, and every tag is a
//! word boundary.
//!
//! This is a lenient reading of HTML, not a parser: it needs to agree with
//! a browser about which bytes are text, not about the document's tree.
//! It never fails; malformed markup at worst leaves some markup as text.

/// Elements whose contents are not page text. `title` is text, but the
/// tab's, not the page's.
const SKIPPED: [&[u8]; 4] = [b"script", b"style", b"noscript", b"title"];

/// The text of `html` as a reader sees it, into `out` (cleared first).
pub fn html_text_into(html: &str, out: &mut String) {
    out.clear();
    out.reserve(html.len() / 2);
    walk(html, out, false);
}

/// [`html_text_into`] into a new string.
pub fn html_text(html: &str) -> String {
    let mut out = String::new();
    html_text_into(html, &mut out);
    out
}

/// The text of the page's first `<title>`, character references decoded
/// and whitespace trimmed, or `None` if it has no title.
pub fn html_title(html: &str) -> Option<String> {
    let mut title = String::new();
    walk(html, &mut title, true).then(|| title.trim().to_string())
}

/// Reads `html` from the start. Writes the page text to `out`, or (with
/// `title`) only the first title's text, then stops; returns whether a
/// title was found.
fn walk(html: &str, out: &mut String, title: bool) -> bool {
    let b = html.as_bytes();
    let mut i = 0;
    while let Some(j) = find_markup(b, i) {
        if !title {
            // `<` and `&` are ASCII, so both ends are character boundaries.
            out.push_str(html.get(i..j).unwrap_or_default());
        }
        if b[j] == b'&' {
            i = if title {
                // Outside the title: skip it without decoding.
                j + 1
            } else {
                entity(b, j, out)
            };
            continue;
        }
        i = match b.get(j + 1) {
            Some(b'!') if b[j..].starts_with(b"<!--") => {
                find(b, j + 4, b"-->").map_or(b.len(), |e| e + 3)
            }
            Some(b'!' | b'?') => find_byte(b, j + 2, b'>').map_or(b.len(), |e| e + 1),
            Some(b'/') => tag_end(b, j + 2),
            Some(c) if c.is_ascii_alphabetic() => {
                let name_end = b[j + 1..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(b.len(), |e| j + 1 + e);
                let name = &b[j + 1..name_end];
                let end = tag_end(b, name_end);
                match SKIPPED.iter().find(|s| s.eq_ignore_ascii_case(name)) {
                    Some(&s) => {
                        let close = closing_tag(b, end, s);
                        if title && s == b"title" {
                            // Title text is escapable raw text: references
                            // are decoded, markup inside is text.
                            let text = html.get(end..close).unwrap_or_default();
                            walk_references(text, out);
                            return true;
                        }
                        tag_end(b, close)
                    }
                    None => end,
                }
            }
            // `a < b`: not a tag.
            _ => {
                if !title {
                    out.push('<');
                }
                i = j + 1;
                continue;
            }
        };
        if !title {
            out.push(' ');
        }
    }
    if !title {
        out.push_str(html.get(i..).unwrap_or_default());
    }
    false
}

/// `text` with its character references decoded, onto `out`.
fn walk_references(text: &str, out: &mut String) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(j) = find_byte(b, i, b'&') {
        out.push_str(text.get(i..j).unwrap_or_default());
        i = entity(b, j, out);
    }
    out.push_str(text.get(i..).unwrap_or_default());
}

/// The first `<` or `&` at or after `from`, eight bytes at a time.
#[inline]
fn find_markup(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(chunk);
        let lt = x ^ (ONES * u64::from(b'<'));
        let amp = x ^ (ONES * u64::from(b'&'));
        // A zero byte in either: the lowest flagged byte is exact (a
        // borrow only ever flags bytes above a true zero).
        let found = (lt.wrapping_sub(ONES) & !lt | amp.wrapping_sub(ONES) & !amp) & HIGH;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == b'<' || c == b'&')
        .map(|p| i + p)
}

fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == byte)
        .map(|p| from + p)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Just past the `>` that ends a tag whose attributes start at `from`; a
/// `>` inside a quoted attribute value does not end it.
fn tag_end(b: &[u8], from: usize) -> usize {
    let mut k = from;
    let mut after_equals = false;
    while let Some(&c) = b.get(k) {
        match c {
            b'>' => return k + 1,
            b'=' => after_equals = true,
            b'"' | b'\'' if after_equals => {
                k = find_byte(b, k + 1, c).unwrap_or(b.len());
                after_equals = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        k += 1;
    }
    b.len()
}

/// Where the `</name` that closes raw text starting at `from` begins, or
/// the end of the input; just past the name, so [`tag_end`] can finish
/// the closing tag.
fn closing_tag(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut k = from;
    while let Some(lt) = find_byte(b, k, b'<') {
        let name_at = lt + 2;
        let after = name_at + name.len();
        if b.get(lt + 1) == Some(&b'/')
            && b.get(name_at..after)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && b.get(after)
                .is_none_or(|&c| c == b'>' || c == b'/' || c.is_ascii_whitespace())
        {
            return lt;
        }
        k = lt + 1;
    }
    b.len()
}

/// Decodes the character reference at `b[at]` (an `&`) onto `out` and
/// returns where the text resumes; an `&` that starts no reference it
/// knows is text.
///
/// References decode to what the normaliser would make of the character,
/// kept in ASCII where that changes nothing (`&nbsp;` and `&mdash;` are
/// spaces, `&rsquo;` an apostrophe), so a page whose only non-ASCII is in
/// its references stays on the normaliser's ASCII path.
fn entity(b: &[u8], at: usize, out: &mut String) -> usize {
    let rest = b.get(at + 1..).unwrap_or_default();
    if let Some(num) = rest.strip_prefix(b"#") {
        let (digits, radix, skip) = match num.first() {
            Some(b'x' | b'X') => (&num[1..], 16, 3),
            _ => (num, 10, 2),
        };
        let len = digits
            .iter()
            .take(8)
            .take_while(|c| c.is_ascii_digit() || (radix == 16 && c.is_ascii_hexdigit()))
            .count();
        if len == 0 {
            out.push('&');
            return at + 1;
        }
        let value = std::str::from_utf8(&digits[..len])
            .ok()
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .and_then(char::from_u32)
            .filter(|&c| c != '\0')
            .unwrap_or(' ');
        out.push(value);
        let end = at + skip + len;
        return if b.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        };
    }
    let name_len = rest
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let decoded = match (&rest[..name_len], rest.get(name_len)) {
        (name, Some(b';')) => match name {
            b"amp" => "&",
            b"lt" => "<",
            b"gt" => ">",
            b"quot" | b"ldquo" | b"rdquo" => "\"",
            b"apos" | b"rsquo" | b"lsquo" => "'",
            b"nbsp" | b"ndash" | b"mdash" | b"hellip" | b"copy" | b"reg" | b"middot" | b"bull" => {
                " "
            }
            _ => "",
        },
        _ => "",
    };
    if decoded.is_empty() {
        out.push('&');
        at + 1
    } else {
        out.push_str(decoded);
        at + 1 + name_len + 1
    }
}

#[cfg(test)]
mod tests {
    use super::{html_text, html_title};

    #[test]
    fn markup_is_dropped_and_every_tag_parts_words() {
        let t = html_text("<p>one</p><p>two</p><div class=\"a>b\" data-x='<p>'>three</div>");
        assert_eq!(
            t.split_whitespace().collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        assert_eq!(html_text("a<b>c</b>d").split_whitespace().count(), 3);
    }

    #[test]
    fn scripts_styles_comments_and_the_title_are_not_page_text() {
        let t = html_text(
            "<!DOCTYPE html><html><head><title>T</title><STYLE>p{x:1}</STYLE>\
             <script type=\"x\">if (a < b && c) { s = '</p>' }</script ></head>\
             <body><!-- kill myself --><noscript>enable js</noscript>shown<?php x ?></body>",
        );
        assert_eq!(t.split_whitespace().collect::<Vec<_>>(), ["shown"]);
    }

    #[test]
    fn references_are_decoded() {
        assert_eq!(
            html_text("fish &amp; chips &lt;3 &#115;elf&#x20;harm don&rsquo;t&nbsp;x"),
            "fish & chips <3 self harm don't x"
        );
        // Not references: left as text.
        assert_eq!(html_text("a & b &zz; &#; &amp"), "a & b &zz; &#; &amp");
        assert_eq!(html_text("&#1575;&#0;&#99999999;"), "\u{627}  ");
    }

    #[test]
    fn a_lone_angle_bracket_is_text() {
        assert_eq!(html_text("a < b <3"), "a < b <3");
    }

    #[test]
    fn the_title_is_read_on_its_own() {
        assert_eq!(
            html_title("<html><head><!-- <title>no</title> --><TITLE lang=en> Self &amp; <b>harm</b> </title>"),
            Some("Self & <b>harm</b>".to_string())
        );
        assert_eq!(html_title("<p>no title</p>"), None);
        assert_eq!(
            html_title("<title>unfinished"),
            Some("unfinished".to_string())
        );
    }

    #[test]
    fn unfinished_markup_ends_the_text() {
        for html in [
            "<p",
            "<!--",
            "<script>x",
            "<a href=\"",
            "&#x",
            "&",
            "<",
            "</",
        ] {
            let _ = html_text(html);
            let _ = html_title(html);
        }
        assert_eq!(html_text("ok<!-- never closed"), "ok ");
    }

    proptest::proptest! {
        #[test]
        fn text_without_markup_is_unchanged(t in "[^<&]{0,200}") {
            proptest::prop_assert_eq!(html_text(&t), t);
        }
    }
}
