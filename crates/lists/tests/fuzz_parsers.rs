//! Property-based fuzzing of the list parsers: arbitrary bytes must give a
//! result or a clear error, never a panic, and a broken file must not lose
//! the good lines around it.

use std::path::PathBuf;

use proptest::prelude::*;
use tutela_lists::format::{parse_line, Line};
use tutela_lists::{compile, normalize_path, Format, HostKey, HostName, LoadOptions, SourceConfig};

const FORMATS: [Format; 5] = [
    Format::Domains,
    Format::Hosts,
    Format::Adblock,
    Format::Urls,
    Format::Ut1,
];

fn flat(path: PathBuf, format: Format) -> SourceConfig {
    SourceConfig {
        name: "fuzz".into(),
        path: Some(path),
        url: None,
        format: Some(format),
        category: Some("fuzz".into()),
        categories: None,
        allow_public_suffix_entries: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_line_parses_or_errors(line in any::<String>()) {
        for format in FORMATS {
            if let Ok(Line::Domain(HostName::Domain(d))) = parse_line(format, &line) {
                // Whatever comes out is canonical: parsing it again is a no-op.
                prop_assert_eq!(HostName::parse(&d).unwrap(), HostName::Domain(d.clone()));
                prop_assert!(!d.ends_with('.') && d == d.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn hostile_names_never_panic(s in "[a-zA-Z0-9.\\-_%:\\[\\]@/ \u{0}\u{ff0e}\u{3002}\u{200b}xn-]{0,80}") {
        let _ = HostName::parse(&s);
        let _ = normalize_path(&s);
    }

    #[test]
    fn a_file_of_junk_around_good_lines_keeps_the_good_lines(
        junk in proptest::collection::vec(any::<Vec<u8>>(), 0..20),
        format_ix in 0usize..4,
    ) {
        let format = FORMATS[format_ix];
        let good = match format {
            Format::Hosts => "0.0.0.0 kept.example\n",
            Format::Adblock => "||kept.example^\n",
            _ => "kept.example\n",
        };
        let mut body = Vec::new();
        for j in &junk {
            // Junk may not contain a newline that would end it early and
            // start a line that is accidentally valid; strip them.
            body.extend(j.iter().copied().filter(|b| *b != b'\n'));
            body.push(b'\n');
            body.extend_from_slice(good.as_bytes());
        }
        body.extend_from_slice(good.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list");
        std::fs::write(&path, &body).unwrap();
        let (index, report) = compile(&[flat(path, format)], &LoadOptions::default());
        prop_assert!(index.matches_host(HostKey::domain("www.kept.example")), "{:?}", report.sources[0]);
    }
}

#[test]
fn a_huge_line_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list");
    let mut body = vec![b'a'; 200_000];
    body.extend_from_slice(b"\nkept.example\n");
    std::fs::write(&path, &body).unwrap();
    let (index, report) = compile(&[flat(path, Format::Domains)], &LoadOptions::default());
    assert!(index.matches_host(HostKey::domain("kept.example")));
    assert_eq!(report.sources[0].malformed, 1);
    assert_eq!(report.sources[0].malformed_examples[0].line, 1);
}

#[test]
fn a_ut1_tree_with_junk_files_loads_what_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("good")).unwrap();
    std::fs::write(root.join("good/domains"), "good.example\n").unwrap();
    std::fs::write(root.join("good/expressions"), "(unclosed\nfine[0-9]+\n").unwrap();
    std::fs::create_dir_all(root.join("binary")).unwrap();
    std::fs::write(
        root.join("binary/domains"),
        [0u8, 159, 146, 150, b'\n', 255],
    )
    .unwrap();
    std::fs::write(root.join("binary/usage"), [255u8, 0]).unwrap();
    std::fs::write(root.join("global_usage"), [0xffu8, 0xfe, b'\n']).unwrap();
    std::fs::write(root.join("alias"), "good").unwrap();
    let source = SourceConfig {
        name: "ut1".into(),
        path: Some(root.to_path_buf()),
        url: None,
        format: Some(Format::Ut1),
        category: None,
        categories: None,
        allow_public_suffix_entries: false,
    };
    let (index, report) = compile(&[source], &LoadOptions::default());
    assert!(index.matches_host(HostKey::domain("good.example")));
    assert_eq!(
        index.categories().get("alias"),
        index.categories().get("good")
    );
    assert!(report.sources[0].malformed >= 2, "{:?}", report.sources[0]);
}
