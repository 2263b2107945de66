//! Text to scan out of URLs and HTML.

/// A URL with its escapes decoded and `+` read as a space, as a search
/// box would have sent it.
pub fn decode_url(url: &str) -> String {
    let spaced = url.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The title and the text a reader sees: tags dropped, script and style
/// skipped, the common entities read. Not a full HTML parser, and it need
/// not be: the scanner reads punctuation as spaces, so a stray bit of
/// markup costs nothing but a few letters.
pub fn visible_text(html: &str) -> (Option<String>, String) {
    let mut body = String::with_capacity(html.len() / 2);
    let mut title: Option<String> = None;
    let mut in_title = false;
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        push_text(&mut body, &rest[..open], in_title, &mut title);
        rest = &rest[open..];
        let Some(close) = rest.find('>') else {
            // A tag cut off at the end of what was kept.
            rest = "";
            break;
        };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        match (name.as_str(), closing) {
            ("script" | "style" | "noscript", false) => {
                let end = format!("</{name}");
                rest = match find_ignore_case(rest, &end) {
                    Some(at) => &rest[at..],
                    None => "",
                };
            }
            ("title", false) => {
                in_title = true;
                title.get_or_insert_with(String::new);
            }
            ("title", true) => in_title = false,
            _ => body.push(' '),
        }
    }
    push_text(&mut body, rest, in_title, &mut title);
    (title, body)
}

fn push_text(body: &mut String, text: &str, in_title: bool, title: &mut Option<String>) {
    if text.is_empty() {
        return;
    }
    let decoded = entities(text);
    if in_title {
        if let Some(t) = title {
            t.push_str(&decoded);
        }
    } else {
        body.push_str(&decoded);
    }
}

fn entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return text.into();
    }
    text.replace("&amp;", "&")
        .replace("&nbsp;", " ")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .into()
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack
        .as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_typed() {
        assert_eq!(
            decode_url("http://x.test/search?q=how+to%20k%C3%AFll+myself"),
            "http://x.test/search?q=how to kïll myself"
        );
        assert_eq!(decode_url("%ZZ%"), "%ZZ%");
    }

    #[test]
    fn html_to_title_and_text() {
        let (title, body) = visible_text(
            "<html><head><TITLE>Pro &amp; ana</TITLE><style>.kill{}</style>\
             <script>var die = 1; if (a<b) {}</script></head>\
             <body><p class=\"x\">I want<br>to sleep</p><!-- c -->forever</body></html>",
        );
        assert_eq!(title.as_deref(), Some("Pro & ana"));
        assert!(body.contains("I want"), "{body}");
        assert!(body.contains("to sleep"), "{body}");
        assert!(!body.contains("die") && !body.contains("kill"), "{body}");
        assert!(!body.contains("class"), "{body}");
        let (none, text) = visible_text("plain <b");
        assert_eq!((none, text.trim()), (None, "plain"));
        // Cut in the middle of a multi-byte letter or a script: no panic.
        let _ = visible_text("<script>é");
        let _ = visible_text("<scrip");
    }
}
