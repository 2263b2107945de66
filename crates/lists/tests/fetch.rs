//! Fetching a UT1 tarball and a plain list from a real HTTP server on
//! 127.0.0.1: conditional GET, the cache, and the last good copy when the
//! server fails or serves something broken.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use tutela_lists::{compile, Format, HostKey, LoadOptions, SourceConfig, SourceStatus};

/// What the test server answers next, and what it was asked.
#[derive(Default)]
struct Script {
    status: u16,
    body: Vec<u8>,
    etag: Option<String>,
    requests: Vec<String>,
}

/// A one-thread HTTP/1.1 server that honours If-None-Match. It serves until
/// the test ends; every connection is closed after one response.
fn serve(script: Arc<Mutex<Script>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &script);
        }
    });
    format!("http://{addr}")
}

fn answer(mut stream: TcpStream, script: &Mutex<Script>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut s = script.lock().unwrap();
    s.requests.push(head.clone());
    let if_none_match = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("if-none-match: ")
                .or_else(|| l.strip_prefix("If-None-Match: "))
        })
        .map(str::trim)
        .map(str::to_string);
    let not_modified = s.etag.is_some() && if_none_match == s.etag;
    let (status, body) = if not_modified {
        (304, Vec::new())
    } else {
        (s.status, s.body.clone())
    };
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Error",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(etag) = &s.etag {
        response.push_str(&format!("ETag: {etag}\r\n"));
    }
    response.push_str("\r\n");
    stream.write_all(response.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}

/// A UT1-style tarball: `blacklists/<category>/{domains,urls,usage}`, and
/// `blacklists/porn` as a symlink to `adult`.
fn ut1_tarball(domains: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (category, list) in domains {
        for (file, text) in [("domains", *list), ("usage", "black\n"), ("urls", "")] {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(
                &mut header,
                format!("blacklists/{category}/{file}"),
                text.as_bytes(),
            )
            .unwrap();
        }
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    tar.append_link(&mut link, "blacklists/porn", "adult")
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn source(url: &str, format: Format) -> SourceConfig {
    SourceConfig {
        name: "remote".into(),
        path: None,
        url: Some(url.into()),
        format: Some(format),
        category: (format != Format::Ut1).then(|| "remote".to_string()),
        categories: None,
        allow_public_suffix_entries: false,
    }
}

#[test]
fn ut1_tarball_fetch_cache_and_last_good_copy() {
    let script = Arc::new(Mutex::new(Script {
        status: 200,
        body: ut1_tarball(&[("adult", "bad.example\n"), ("gambling", "bet.example\n")]),
        etag: Some("\"v1\"".into()),
        ..Default::default()
    }));
    let base = serve(script.clone());
    let url = format!("{base}/blacklists.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        fetch: true,
        ..Default::default()
    };
    let sources = [source(&url, Format::Ut1)];

    // First fetch: a full download.
    let (index, report) = compile(&sources, &options);
    assert_eq!(
        report.sources[0].status,
        SourceStatus::Loaded,
        "{:?}",
        report.sources[0]
    );
    assert!(index.matches_host(HostKey::domain("www.bad.example")));
    assert!(index.matches_host(HostKey::domain("bet.example")));
    assert_eq!(
        index.categories().get("porn"),
        index.categories().get("adult")
    );
    assert!(index.categories().get("porn").is_some());

    // Second: conditional, answered 304, served from the cache.
    let (index, report) = compile(&sources, &options);
    assert_eq!(report.sources[0].status, SourceStatus::Loaded);
    assert!(index.matches_host(HostKey::domain("bad.example")));
    {
        let s = script.lock().unwrap();
        assert_eq!(s.requests.len(), 2);
        assert!(
            s.requests[1]
                .to_ascii_lowercase()
                .contains("if-none-match: \"v1\""),
            "{}",
            s.requests[1]
        );
    }

    // The server fails: the last good copy stays in force.
    {
        let mut s = script.lock().unwrap();
        s.status = 500;
        s.etag = None;
    }
    let (index, report) = compile(&sources, &options);
    assert!(
        matches!(report.sources[0].status, SourceStatus::LastGood { .. }),
        "{:?}",
        report.sources[0].status
    );
    assert!(index.matches_host(HostKey::domain("bad.example")));

    // It serves a truncated archive: still the last good copy.
    {
        let mut s = script.lock().unwrap();
        s.status = 200;
        let good = ut1_tarball(&[("adult", "other.example\n")]);
        s.body = good[..good.len() / 2].to_vec();
    }
    let (index, report) = compile(&sources, &options);
    assert!(
        matches!(report.sources[0].status, SourceStatus::LastGood { .. }),
        "{:?}",
        report.sources[0].status
    );
    assert!(index.matches_host(HostKey::domain("bad.example")));

    // It serves a valid archive with empty lists: still the last good copy.
    script.lock().unwrap().body = ut1_tarball(&[("adult", "# nothing\n")]);
    let (index, report) = compile(&sources, &options);
    assert!(matches!(
        report.sources[0].status,
        SourceStatus::LastGood { .. }
    ));
    assert!(index.matches_host(HostKey::domain("bad.example")));

    // A real update replaces it.
    {
        let mut s = script.lock().unwrap();
        s.body = ut1_tarball(&[("adult", "new.example\n")]);
        s.etag = Some("\"v2\"".into());
    }
    let (index, report) = compile(&sources, &options);
    assert_eq!(report.sources[0].status, SourceStatus::Loaded);
    assert!(index.matches_host(HostKey::domain("new.example")));
    assert!(!index.matches_host(HostKey::domain("bad.example")));

    // With fetching off, the cache alone serves.
    let offline = LoadOptions {
        fetch: false,
        ..options.clone()
    };
    let before = script.lock().unwrap().requests.len();
    let (index, _) = compile(&sources, &offline);
    assert!(index.matches_host(HostKey::domain("new.example")));
    assert_eq!(
        script.lock().unwrap().requests.len(),
        before,
        "no request when fetching is off"
    );
}

#[test]
fn plain_list_over_http_and_an_unreachable_server() {
    let script = Arc::new(Mutex::new(Script {
        status: 200,
        body: b"ads.example\ntracker.example\n".to_vec(),
        ..Default::default()
    }));
    let base = serve(script);
    let dir = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        fetch: true,
        ..Default::default()
    };
    let (index, report) = compile(
        &[source(&format!("{base}/list.txt"), Format::Domains)],
        &options,
    );
    assert_eq!(report.sources[0].status, SourceStatus::Loaded);
    assert!(index.matches_host(HostKey::domain("x.tracker.example")));

    // Nothing listens on this port (bound, then closed): connection refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, report) = compile(
        &[source(
            &format!("http://{closed}/list.txt"),
            Format::Domains,
        )],
        &LoadOptions {
            cache_dir: Some(dir.path().join("other")),
            ..options
        },
    );
    match &report.sources[0].status {
        SourceStatus::Failed { reason } => assert!(reason.contains("fetch"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn archive_cannot_write_outside_the_cache() {
    // A hostile tarball with `../escape` entries and a symlink to /etc.
    let mut raw = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut raw);
        let mut header = tar::Header::new_gnu();
        let text = b"evil.example\n";
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        // Bypass the builder's own path check to write a climbing path.
        header.as_gnu_mut().unwrap().name[..19].copy_from_slice(b"../escape/x/domains");
        header.set_cksum();
        tar.append(&header, &text[..]).unwrap();
        let mut ok = tar::Header::new_gnu();
        ok.set_size(text.len() as u64);
        ok.set_mode(0o644);
        ok.set_cksum();
        tar.append_data(&mut ok, "lists/adult/domains", &b"fine.example\n"[..])
            .unwrap();
        tar.finish().unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let body = gz.finish().unwrap();
    let script = Arc::new(Mutex::new(Script {
        status: 200,
        body,
        ..Default::default()
    }));
    let base = serve(script);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let options = LoadOptions {
        cache_dir: Some(cache.clone()),
        fetch: true,
        ..Default::default()
    };
    let (_index, _report) = compile(
        &[source(&format!("{base}/x.tar.gz"), Format::Ut1)],
        &options,
    );
    assert!(!dir.path().join("escape").exists());
    assert!(!cache.join("escape").exists());
    let mut found = String::new();
    for entry in walk(dir.path()) {
        found.push_str(&entry);
        found.push('\n');
    }
    assert!(!found.contains("escape"), "{found}");
}

fn walk(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            out.push(e.path().display().to_string());
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}
