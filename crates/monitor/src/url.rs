//! Text to scan out of URLs: the monitor reads a URL as the words the
//! pupil typed or followed, so the watcher and the evaluation decode it the
//! same way before scanning.

/// A URL with its escapes decoded and `+` read as a space, as a search
/// box would have sent it.
pub fn decode_url(url: &str) -> String {
    let spaced = url.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
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
}
