//! The built-in English lexicons on labelled examples: what must alert (at
//! severity 3 or more), and hard negatives that must not. A first slice of
//! the evaluation set the monitor issue asks for.

use proptest::strategy::Strategy;
use tutela_monitor::{built_in_lexicons, html_title, HtmlBuffers, Lexicon, LexiconError, Scanner};

fn scanner() -> Scanner {
    Scanner::new(&built_in_lexicons().expect("the built-in lexicons parse")).expect("compile")
}

fn alerts(s: &Scanner, text: &str) -> Vec<(String, u8, String)> {
    s.scan(text)
        .into_iter()
        .filter(|h| h.severity >= 3)
        .map(|h| (h.theme, h.severity, h.rule))
        .collect()
}

const POSITIVES: &[(&str, &str)] = &[
    ("self-harm", "how to hide self harm scars from parents"),
    ("self-harm", "i keep cutting myself and cant stop"),
    ("self-harm", "s3lf h4rm tips"),
    ("self-harm", "best razor for your wrist"),
    ("self-harm", "sh scars fading"),
    ("self-harm", "barcode arms aesthetic"),
    ("self-harm", "SELF-HARMING at school"),
    ("suicide", "i want to die"),
    ("suicide", "how to k i l l myself"),
    ("suicide", "kiiiill myself"),
    ("suicide", "painless way to die"),
    ("suicide", "overdose on paracetamol how long"),
    ("suicide", "how to unalive myself"),
    ("suicide", "su1c1de methods"),
    ("suicide", "everyone would be better off without me"),
    ("suicide", "kms"),
    ("eating-disorders", "pro-ana tips to stop hunger"),
    ("eating-disorders", "thinspiration pictures"),
    (
        "eating-disorders",
        "how to make myself throw up after dinner",
    ),
    ("eating-disorders", "starving myself to be thin"),
    ("grooming", "don't tell your parents about me ok"),
    ("grooming", "you're very mature for your age"),
    ("grooming", "how old are you? send me a pic"),
    ("grooming", "this is our little secret"),
    ("grooming", "are you home alone? send pics"),
    ("sexual-content", "free p0rn videos"),
    ("sexual-content", "onlyfans leaks"),
    ("radicalisation", "how to join isis as a teenager"),
    ("radicalisation", "the race war is coming"),
    ("radicalisation", "christchurch manifesto pdf"),
    ("bullying", "kys nobody likes you"),
    ("bullying", "im being bullied at school what do i do"),
    ("bullying", "they leaked my nudes to the whole year"),
    ("hate", "hitler was right about everything"),
    ("hate", "go back to your country"),
    ("drugs", "where to buy weed in leeds"),
    ("drugs", "plug near me snapchat"),
    ("drugs", "how to make meth at home"),
    ("drugs", "lean with codeine and sprite"),
    ("weapons-violence", "where to buy a zombie knife"),
    ("weapons-violence", "im gonna stab him"),
    ("weapons-violence", "going to shoot up the school"),
    // Families added after the first blind score (our own wording).
    ("self-harm", "four months clean and i relapsed, cut again"),
    ("self-harm", "how to cover up my cuts for pe"),
    ("suicide", "i think ill ctb this weekend"),
    ("suicide", "would a box of citalopram kill me"),
    (
        "grooming",
        "he wants to meet up but says not to tell my mum",
    ),
    ("grooming", "she said shell post my pics unless i send more"),
    ("grooming", "free robux if you send nudes"),
    ("hate", "asylum seekers are parasites"),
    ("weapons-violence", "carrying a blade for protection"),
    ("bullying", "they made a group chat to decide who is ugly"),
    ("drugs", "where can i get ket near me"),
    ("eating-disorders", "lowest calories i can survive on"),
];

const HARD_NEGATIVES: &[&str] = &[
    "how to cut my hair at home",
    "I need to cut myself some slack after exams",
    "I hurt myself playing football",
    "burnt myself on the oven door",
    "Self harm awareness week assembly",
    "suicide squad cast",
    "kill the process in linux terminal",
    "I was killing myself laughing at that video",
    "I want to die my hair blue",
    "Romeo and Juliet essay: the theme of fate",
    "suicide prevention helpline numbers for schools",
    "history of the suicide bomber in world war two kamikaze",
    "how many calories in a banana",
    "balanced diet for teenagers",
    "don't tell your parents about the surprise party",
    "blade runner 2049 review",
    "shaving cut that won't stop bleeding",
    "a sugar beet farm in norfolk",
    "the cutting edge of science",
    "minecraft how to kill the ender dragon",
    "ASL sign language lessons",
    "The goddess Isis in ancient Egypt, Year 7 project",
    "Isis and Osiris myth homework",
    "county lines awareness assembly for parents",
    "knife crime awareness workshop",
    "how to sharpen a kitchen knife",
    "anti bullying week ideas for tutors",
    "holocaust memorial day history lesson on the sieg heil salute",
    "sex education curriculum year 9",
    "a protein lean recipe for dinner",
    "The Catcher in the Rye chapter summary",
    "gonna cut the grass tonight",
    "i cut my arm on the fence at forest school",
    "Self-harm: information for young people - YoungMinds",
    "1000 ways to die episode list",
    "is ibuprofen safe for dogs",
    "dont tell anyone but lets meet at the shop to get mum a present",
    "shoot hoops after school",
    "how to make a bath bomb",
    "the way refugees are treated is disgusting",
    "ugly christmas jumper group chat",
    "how to get weeds out of the patio",
];

#[test]
fn every_positive_alerts_in_its_theme() {
    let s = scanner();
    let mut missed = Vec::new();
    for (theme, text) in POSITIVES {
        let a = alerts(&s, text);
        if !a.iter().any(|(t, _, _)| t == theme) {
            missed.push(format!("{theme}: {text:?} gave {a:?}"));
        }
    }
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}

#[test]
fn hard_negatives_raise_no_alert() {
    let s = scanner();
    let mut wrong = Vec::new();
    for text in HARD_NEGATIVES {
        let a = alerts(&s, text);
        // "ASL" is a known limit: sign language and a grooming shorthand
        // are spelled alike.
        if !a.is_empty() && !text.starts_with("ASL") {
            wrong.push(format!("{text:?} gave {a:?}"));
        }
    }
    assert!(wrong.is_empty(), "false alerts:\n{}", wrong.join("\n"));
}

#[test]
fn a_hit_carries_theme_severity_rule_and_context() {
    let s = scanner();
    let hits = s.scan("Homework done. Honestly i just want to die tonight, nobody cares.");
    let h = hits.first().expect("a hit");
    assert_eq!(
        (h.theme.as_str(), h.severity, h.rule.as_str()),
        ("suicide", 5, "want to die")
    );
    assert!(h.context.contains("want to die tonight"), "{}", h.context);
    // Combination rules need their parts near each other.
    assert!(alerts(&s, &format!("razor {} wrist", "filler text ".repeat(20))).is_empty());
}

#[test]
fn broken_lexicon_files_say_what_is_wrong() {
    let e = Lexicon::parse(
        "x.toml",
        "theme = \"self-harm\"\nlanguage = \"en\"\n[[rule]]\nphrase = \"a b\"\nseverity = 9\n",
    )
    .unwrap_err();
    assert!(matches!(e, LexiconError::Rule { index: 1, .. }), "{e}");
    let e = Lexicon::parse("x.toml", "theme = \"astrology\"\nlanguage = \"en\"\n").unwrap_err();
    assert!(e.to_string().contains("unknown theme"), "{e}");
    let e = Lexicon::parse("x.toml", "theme = \"suicide\"\nlanguage = \"en\"\n[[rule]]\nphrase = \"x\"\nall = [\"y\"]\nseverity = 3\n").unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    assert!(Lexicon::parse("x.toml", "theme = ").is_err());
}

/// The scanner keeps buffers per thread: what a long page left in them
/// must not hide a phrase at the very start of the next, short text.
#[test]
fn a_scan_is_not_changed_by_the_one_before() {
    let s = scanner();
    let first = |text: &str| -> bool {
        alerts(&s, text)
            .iter()
            .any(|(theme, _, _)| theme == "self-harm")
    };
    assert!(first("self harm tips"));
    let page = "an ordinary page of words about the weather. ".repeat(500);
    assert!(!first(&page));
    assert!(first("self harm tips"));
}

/// Severity 2 is a weak sign, seen only alongside others: two different
/// cues of a theme within a sentence of each other are concerning
/// (severity 3); one alone, the same one twice, or two far apart are not.
#[test]
fn weak_cues_add_up_only_when_close_together() {
    let lexicon = Lexicon::parse(
        "cues.toml",
        r#"
        theme = "self-harm"
        language = "en"
        [[rule]]
        phrase = "marks on my"
        severity = 2
        [[rule]]
        phrase = "thighs"
        severity = 2
        [[rule]]
        phrase = "nobody notices"
        severity = 2
        [[negative]]
        phrase = "stretch marks"
        within = 10
        "#,
    )
    .expect("parses");
    let s = Scanner::new(&[lexicon]).expect("compile");
    let concerning = |text: &str| -> Vec<String> {
        s.scan(text)
            .into_iter()
            .filter(|h| h.severity >= 3)
            .map(|h| h.rule)
            .collect()
    };
    assert_eq!(
        concerning("the marks on my thighs are getting worse"),
        vec!["marks on my & thighs".to_string()]
    );
    assert_eq!(
        concerning("nobody notices. the marks on my legs"),
        vec!["nobody notices & marks on my".to_string()]
    );
    for calm in [
        "the marks on my essay were good",
        "thighs thighs thighs",
        // A cue its negative cancels counts for nothing.
        "stretch marks on my thighs",
        &format!(
            "marks on my homework. {} my thighs ache from running",
            "word ".repeat(30)
        ),
    ] {
        assert!(
            concerning(calm).is_empty(),
            "{calm}: {:?}",
            concerning(calm)
        );
    }
}

/// One scanner for every property-test case: compiling it is most of a
/// case's time.
fn shared() -> &'static Scanner {
    static SCANNER: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    SCANNER.get_or_init(scanner)
}

proptest::proptest! {
    #[test]
    fn any_text_scans_without_panicking(text in "\\PC{0,400}") {
        let s = shared();
        for h in s.scan(&text) {
            proptest::prop_assert!((1..=5).contains(&h.severity));
        }
        for h in s.scan_html(&text) {
            proptest::prop_assert!((1..=5).contains(&h.severity));
        }
        let _ = html_title(&text);
    }

    #[test]
    fn any_markup_scans_without_panicking(
        text in proptest::collection::vec(
            proptest::sample::select(&[
                "<", ">", "</", "<!--", "-->", "&", "&#", "&#x", ";", "\"", "'", "=", "p",
                "script", "title", "TITLE", " ", "kill myself", "a", "1", "\u{e9}", "\u{627}",
            ][..]),
            0..60,
        ).prop_map(|v| v.concat())
    ) {
        let s = shared();
        let _ = s.scan_html(&text);
        let _ = html_title(&text);
    }
}

/// Real pages have curly quotes, em dashes and © lines; none of them may
/// change how the rest of the page is read.
#[test]
fn typography_elsewhere_on_a_page_changes_nothing() {
    let s = scanner();
    let themes =
        |text: &str| -> Vec<String> { alerts(&s, text).into_iter().map(|a| a.0).collect() };
    let page = "\u{201c}Homework\u{201d} is due on Friday. Some filler text here. s3lf h4rm";
    assert!(themes(page).contains(&"self-harm".to_string()), "{page}");
    let page = "Year 9 \u{2014} revision notes \u{a9} 2026. how to k i l l myself";
    assert!(themes(page).contains(&"suicide".to_string()), "{page}");
    let page = "caf\u{e9} menu. su1c1de methods";
    assert!(themes(page).contains(&"suicide".to_string()), "{page}");
}

/// Children write the same words many ways: one rule serves the
/// spellings in `lexicons/spellings.toml`, and a word masked to dodge a
/// filter is read as the lexicon word it hides. Neither reads ordinary
/// text differently.
#[test]
fn spellings_and_masked_words_meet_the_rules() {
    let s = scanner();
    let themes =
        |text: &str| -> Vec<String> { alerts(&s, text).into_iter().map(|a| a.0).collect() };
    for (theme, text) in [
        ("suicide", "i wanna die"),
        ("suicide", "sucide methods"),
        ("suicide", "how to k*ll myself"),
        ("suicide", "s**cide methods"),
        ("suicide", "*uicide methods"),
        ("self-harm", "how to hide s*lf h*rm scars"),
        (
            "suicide",
            "everyone wud be better off without me. ppl would be better off without me",
        ),
    ] {
        assert!(
            themes(text).contains(&theme.to_string()),
            "{text}: {:?}",
            themes(text)
        );
    }
    for benign in [
        "5 * 3 = 15",
        "**bold** and *italic* text",
        "footnote* applies",
        "c*t and d*g photos",
        "f*** this homework",
    ] {
        assert!(themes(benign).is_empty(), "{benign}: {:?}", themes(benign));
    }
}

/// Arabic as children type it: stretched with tatweel, with or without
/// harakat, taa marbuta written as haa.
#[test]
fn arabic_variants_match_the_plain_rules() {
    let s = scanner();
    let rules = |text: &str| -> Vec<String> { s.scan(text).into_iter().map(|h| h.rule).collect() };
    assert!(rules("انتحـــار").contains(&"انتحار".to_string()));
    assert!(rules("اَلانْتِحَار").contains(&"الانتحار".to_string()));
    let a = alerts(&s, "أريـــد أن أنتحـــر");
    assert!(a.iter().any(|(t, _, _)| t == "suicide"), "{a:?}");
}

/// The proxy hands over raw HTML: markup must neither make words of its
/// own nor hide the page's.
#[test]
fn html_is_scanned_as_the_page_reads() {
    let s = scanner();
    let themes = |hits: Vec<tutela_monitor::Hit>| -> Vec<String> {
        hits.into_iter()
            .filter(|h| h.severity >= 3)
            .map(|h| h.theme)
            .collect()
    };
    // Scanned as text, `</p><p>` makes one-letter words that the join
    // glues onto `k i l l` (` pkil myself `).
    let page = "<p>Reply</p><p>k i l l myself</p>";
    assert!(!themes(s.scan(page)).contains(&"suicide".to_string()));
    assert!(themes(s.scan_html(page)).contains(&"suicide".to_string()));
    // References decode; scripts, styles and comments are not the page.
    let page = "<div>&#115;3lf&nbsp;h4rm</div>";
    assert!(themes(s.scan_html(page)).contains(&"self-harm".to_string()));
    let page = "<script>// kill myself</script><style>.want-to-die{}</style>\
                <!-- how to kill myself --><p>Maths homework</p>";
    assert!(s.scan_html(page).is_empty(), "{:?}", s.scan_html(page));
    // The title is read on its own.
    let page = "<html><head><title>Suicide methods</title></head><body><p>Hello</p></body>";
    assert!(s.scan_html(page).is_empty());
    let title = html_title(page).expect("a title");
    assert!(themes(s.scan(&title)).contains(&"suicide".to_string()));
    // The buffers are reused from page to page.
    let mut buffers = HtmlBuffers::default();
    assert!(s.scan_html_with("<p>hello</p>", &mut buffers).is_empty());
    assert_eq!(s.scan_html_with(page, &mut buffers), s.scan_html(page));
}

/// A DSL's edit of the spellings file reaches the scanner: a spelling
/// added there matches every rule written with the plain form, and a
/// broken file is refused with its name, not read as a lexicon.
#[test]
fn edited_spellings_reach_the_scanner() {
    use tutela_monitor::spelling::BUILT_IN;
    use tutela_monitor::{scanner_with_edits, EditsError, SPELLINGS_FILE};

    let shipped = scanner_with_edits(&[]).expect("the built-in set compiles");
    let typed = "i am going to klmslf tonight";
    assert!(
        !alerts(&shipped, typed).iter().any(|a| a.0 == "suicide"),
        "{:?}",
        alerts(&shipped, typed)
    );
    let edited = format!("{BUILT_IN}\n[local]\n\"kill myself\" = [\"klmslf\"]\n");
    let scanner = scanner_with_edits(&[(SPELLINGS_FILE.to_string(), edited)])
        .expect("the edited spellings compile");
    assert!(
        alerts(&scanner, typed).iter().any(|a| a.0 == "suicide"),
        "{:?}",
        alerts(&scanner, typed)
    );
    // Everything the shipped spellings catch is still caught.
    assert!(!alerts(&scanner, "how to k i l l myself tonite").is_empty());

    let broken = format!("{BUILT_IN}\n[local]\n\"kill myself\" = \"klmslf\"\n");
    match scanner_with_edits(&[(SPELLINGS_FILE.to_string(), broken)]) {
        Err(EditsError::Lexicon(e)) => assert!(e.to_string().contains(SPELLINGS_FILE), "{e}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a broken spellings file was accepted"),
    }
}
