//! Texts and lexicon sets shared by the benchmarks.

#![allow(dead_code)]

use tutela_monitor::{built_in_lexicons, Lexicon};

const PROSE: &str =
    "The history department has set a project on the causes of the First World War. \
Pupils should read chapter four, make notes on the alliance system, and prepare a short \
presentation for Thursday. Remember to cite your sources and check the spelling of names. \
In science we will revise photosynthesis, respiration and the carbon cycle before the test. \
Football training is cancelled this week because the pitch is waterlogged after the storm. ";

/// The same prose as a real page would carry it: curly quotes and
/// apostrophes, a non-breaking space, an em dash, accented loan words,
/// a © line, and a few digits.
const MIXED: &str = "The history department\u{a0}has set a project on the \u{201c}causes\u{201d} of the First World War \u{2014} 1914\u{2013}1918. \
Pupils should read chapter four, make notes on the alliance system, and prepare a short \
presentation for Thursday\u{2019}s caf\u{e9} session. Remember to cite your sources and check the spelling of na\u{ef}ve names. \
In science we\u{2019}ll revise photosynthesis, respiration and the carbon cycle before the test\u{2026} \
Football training is cancelled this week because the pitch is waterlogged after the storm. \u{a9} 2026 Oakfield Academy. ";

fn repeat(prose: &str, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + prose.len());
    let mut n = 0;
    while text.len() < bytes {
        text.push_str(prose);
        n += 1;
        if n % 50 == 0 {
            text.push_str("someone said they want to die and asked how to purge. ");
        }
    }
    text
}

/// Ordinary English prose with a few hits in it, as most pages are.
pub fn page_text(bytes: usize) -> String {
    repeat(PROSE, bytes)
}

/// As [`page_text`], with the typography real pages have.
pub fn mixed_text(bytes: usize) -> String {
    repeat(MIXED, bytes)
}

/// The same prose inside HTML, with a script and a style block.
pub fn html_text(bytes: usize) -> String {
    let chunk = format!(
        "<div class=\"article-body\" data-id=\"4711\"><p>{}</p>\n<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}</script>\
<style>.article-body p{{margin:0 0 1em;font-family:Georgia,serif}}</style></div>\n",
        PROSE.replace(". ", ".</p><p>")
    );
    repeat(&chunk, bytes)
}

/// Every lexicon file on disk, whatever built_in() lists yet.
pub fn on_disk_lexicons() -> Vec<Lexicon> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                if let Ok(l) = Lexicon::parse(&f.display().to_string(), &text) {
                    out.push(l);
                }
            }
        }
    }
    out
}

/// At least `factor` times the English rule count: every lexicon on disk
/// plus made-up languages derived from the English files, their words
/// given common prefixes and suffixes (so they start like real words and
/// crowd the filter as a real language would) and some turned into Arabic
/// letters.
pub fn large_lexicons(factor: usize) -> Vec<Lexicon> {
    let english = built_in_lexicons().expect("built-in lexicons");
    let english_rules: usize = english.iter().map(|l| l.rules.len()).sum();
    let mut all = on_disk_lexicons();
    let affixes: [(&str, &str); 12] = [
        ("", "en"),
        ("re", ""),
        ("de", "o"),
        ("con", "a"),
        ("in", "ung"),
        ("ex", "ar"),
        ("", "os"),
        ("pro", "e"),
        ("", "ści"),
        ("ar:", ""),
        ("tr", "i"),
        ("", "ului"),
    ];
    let arabic: Vec<char> = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي".chars().collect();
    let mut k = 0;
    while all.iter().map(|l| l.rules.len()).sum::<usize>() < factor * english_rules {
        let (pre, suf) = affixes[k % affixes.len()];
        let word = |w: &str| -> String {
            if pre == "ar:" {
                w.bytes()
                    .map(|b| arabic[usize::from(b) % arabic.len()])
                    .collect()
            } else {
                format!("{pre}{w}{suf}")
            }
        };
        let phrase = |p: &str| -> String {
            tutela_monitor::normalise(&p.split(' ').map(word).collect::<Vec<_>>().join(" "))
                .trim()
                .to_string()
        };
        for l in &english {
            let mut l = l.clone();
            l.language = format!("x{k}");
            for r in &mut l.rules {
                for p in &mut r.parts {
                    *p = phrase(p);
                }
            }
            for n in &mut l.negatives {
                n.phrase = phrase(&n.phrase);
            }
            all.push(l);
        }
        k += 1;
    }
    all
}
