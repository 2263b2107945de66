//! The page a pupil sees instead of a blocked site: what was blocked, why,
//! by which rule of which group, the event's reference, and a link to ask
//! for a review.
//!
//! Every value on it came from a request or a list, so every value is
//! escaped for HTML, and percent-encoded where it goes into a link.

use std::fmt::Write as _;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What one block page says.
#[derive(Debug, Clone, Default)]
pub struct BlockPage<'a> {
    /// The address as the pupil asked for it.
    pub url: &'a str,
    pub host: &'a str,
    /// Display names of the categories that decided.
    pub categories: &'a [String],
    /// The group whose policy applied.
    pub group: &'a str,
    /// The rule that decided (`group-block-category`, `illegal-tier`…).
    pub rule: &'a str,
    /// A sentence for people, from the policy.
    pub reason: &'a str,
    /// The access event's reference.
    pub reference: &'a str,
    pub user: Option<&'a str>,
    /// Whether a review can change anything (not for the illegal tier).
    pub reviewable: bool,
}

/// The words on the page. English by default; a translation fills the same
/// fields.
#[derive(Debug, Clone)]
pub struct Wording {
    pub lang: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub address: &'static str,
    pub category: &'static str,
    pub rule: &'static str,
    pub reference: &'static str,
    pub review: &'static str,
    pub review_hint: &'static str,
    pub no_review: &'static str,
}

pub const ENGLISH: Wording = Wording {
    lang: "en",
    title: "This page is blocked",
    intro: "Your school's filter stopped this page.",
    address: "Address",
    category: "Category",
    rule: "Rule",
    reference: "Reference",
    review: "Request a review",
    review_hint:
        "If you need this page for your work, ask for it to be checked. Give the reference above.",
    no_review: "This address is on a list that cannot be unblocked.",
};

/// Characters left bare in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Escapes `text` for HTML text and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

impl BlockPage<'_> {
    /// The console link that opens a review request with this block filled
    /// in.
    pub fn review_link(&self, console_url: &str) -> String {
        let enc = |s: &str| utf8_percent_encode(s, QUERY_VALUE).to_string();
        let mut link = format!(
            "{}/review?url={}&ref={}",
            console_url.trim_end_matches('/'),
            enc(self.url),
            enc(self.reference)
        );
        if let Some(user) = self.user {
            let _ = write!(link, "&user={}", enc(user));
        }
        link
    }

    /// The whole page.
    pub fn render(&self, wording: &Wording, console_url: &str) -> String {
        let e = escape_html;
        let categories = if self.categories.is_empty() {
            "—".to_string()
        } else {
            e(&self.categories.join(", "))
        };
        let review = if self.reviewable {
            format!(
                "<p>{hint}</p>\n<p><a class=\"button\" href=\"{link}\">{review}</a></p>",
                hint = e(wording.review_hint),
                link = e(&self.review_link(console_url)),
                review = e(wording.review),
            )
        } else {
            format!("<p>{}</p>", e(wording.no_review))
        };
        format!(
            r#"<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #1d2733; }}
main {{ max-width: 36rem; margin: 2rem auto; padding: 1.5rem; background: #fff; border-radius: 8px; }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; overflow-wrap: anywhere; }}
.button {{ display: inline-block; padding: .6rem 1rem; background: #1f5fa8; color: #fff; border-radius: 6px; text-decoration: none; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{intro}</p>
<dl>
<dt>{address_label}</dt><dd>{url}</dd>
<dt>{category_label}</dt><dd>{categories}</dd>
<dt>{rule_label}</dt><dd>{reason} ({rule}, {group})</dd>
<dt>{reference_label}</dt><dd><code>{reference}</code></dd>
</dl>
{review}
</main>
</body>
</html>
"#,
            lang = e(wording.lang),
            title = e(wording.title),
            intro = e(wording.intro),
            address_label = e(wording.address),
            url = e(if self.url.is_empty() {
                self.host
            } else {
                self.url
            }),
            category_label = e(wording.category),
            rule_label = e(wording.rule),
            reason = e(self.reason),
            rule = e(self.rule),
            group = e(self.group),
            reference_label = e(wording.reference),
            reference = e(self.reference),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_escaped_everywhere() {
        let categories = vec!["<b>adult</b>".to_string()];
        let page = BlockPage {
            url: "http://x.example/<script>alert(1)</script>?a=\"b\"&c='d'",
            host: "x.example",
            categories: &categories,
            group: "pupils<img>",
            rule: "group-block-category",
            reason: "blocked: <i>",
            reference: "0ABC",
            user: Some("o'brien&co"),
            reviewable: true,
        };
        let html = page.render(&ENGLISH, "http://console.example:8080/");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>adult"), "{html}");
        assert!(!html.contains("<img>"), "{html}");
        assert!(!html.contains("<i>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        let link = page.review_link("http://console.example:8080/");
        assert!(link.starts_with("http://console.example:8080/review?url=http%3A%2F%2Fx.example"));
        assert!(link.contains("&user=o%27brien%26co"), "{link}");
        assert!(!link.contains('<') && !link.contains('"'));
    }

    #[test]
    fn the_illegal_tier_offers_no_review() {
        let page = BlockPage {
            url: "http://bad.example/",
            reviewable: false,
            ..Default::default()
        };
        let html = page.render(&ENGLISH, "http://c");
        assert!(!html.contains("/review?"));
        assert!(html.contains(ENGLISH.no_review));
    }
}
