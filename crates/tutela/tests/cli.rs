//! `tutela check`, `tutela lists stats` and configuration errors, run as a
//! user would: the real binary on the real UT1 lists in `../shared/data/ut1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ut1_dir() -> PathBuf {
    let dir = match std::env::var_os("TUTELA_UT1") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ut1"),
    };
    assert!(
        dir.join("global_usage").exists(),
        "the UT1 test data is missing at {}: these tests need ../shared/data/ut1 beside the checkout (or TUTELA_UT1)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

fn tutela(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args(args)
        .env("TUTELA_LOG", "error")
        .env_remove("TUTELA_CONFIG")
        .output()
        .unwrap()
}

/// Every UT1 category folder that has a `domains` file with entries.
fn categories(ut1: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(ut1)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.path()
                .join("domains")
                .metadata()
                .map(|m| m.len() > 0)
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// A config with UT1 and a group `everything` that blocks every category.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let ut1 = ut1_dir();
    let cats: Vec<String> = categories(&ut1).iter().map(|c| format!("{c:?}")).collect();
    let text = format!(
        r#"
data_dir = "data"

[listeners]
dns = "127.0.0.1:0"
proxy = "127.0.0.1:0"
console = "127.0.0.1:0"

[[lists.sources]]
name = "ut1"
path = "{ut1}"

[policy.groups.everything]
block_categories = [{cats}]

[policy.groups.open]
role = "staff"
block_categories = []
safesearch = "off"

{extra}
"#,
        ut1 = ut1.display(),
        cats = cats.join(", "),
    );
    let path = dir.join("tutela.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_json(config: &Path, extra_args: &[&str], targets: &[String]) -> Vec<Value> {
    let mut args = vec!["--config", config.to_str().unwrap(), "check", "--json"];
    args.extend_from_slice(extra_args);
    args.extend(targets.iter().map(String::as_str));
    let out = tutela(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(
        lines.len(),
        targets.len(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn has_category(v: &Value, c: &str) -> bool {
    v["categories"].as_array().unwrap().iter().any(|x| x == c)
}

/// The first entry of a category's domains file that is a plain domain
/// (not an IP, not skipped as a public suffix).
fn first_domain(ut1: &Path, category: &str) -> Option<String> {
    let text = std::fs::read_to_string(ut1.join(category).join("domains")).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| {
            l.matches('.').count() >= 1
                && !l.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !l.starts_with('#')
                && psl_ok(l)
        })
        .map(str::to_string)
}

/// Two labels under a well-known TLD at least, so it is never skipped.
fn psl_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && !matches!(
            labels[labels.len() - 2],
            "co" | "com" | "gov" | "ac" | "org" | "net" | "gouv" | "edu"
        )
}

#[test]
fn every_category_blocks_its_domains_and_their_subdomains() {
    let ut1 = ut1_dir();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let mut targets = Vec::new();
    let mut expected = Vec::new();
    for c in categories(&ut1) {
        let Some(d) = first_domain(&ut1, &c) else {
            continue;
        };
        for t in [
            d.clone(),
            format!("www.{d}"),
            format!("https://a.b.{d}/path?q=1"),
        ] {
            targets.push(t);
            expected.push(c.clone());
        }
    }
    assert!(
        expected.len() >= 3 * 60,
        "too few categories found: {}",
        expected.len() / 3
    );
    let verdicts = check_json(&cfg, &["--group", "everything"], &targets);
    for ((v, c), t) in verdicts.iter().zip(&expected).zip(&targets) {
        assert_eq!(v["action"], "block", "{t}: {v}");
        assert!(has_category(v, c), "{t} should be in {c}: {v}");
        assert_eq!(v["rule"], "group-block-category", "{t}: {v}");
        assert!(v["reason"].as_str().unwrap().contains("blocked"), "{v}");
        assert!(v["entry"].is_string(), "{v}");
    }
    // The same names are allowed for a group that blocks nothing, and still
    // carry their categories.
    let verdicts = check_json(&cfg, &["--group", "open"], &targets);
    for ((v, c), t) in verdicts.iter().zip(&expected).zip(&targets) {
        assert_eq!(v["action"], "allow", "{t}: {v}");
        assert!(has_category(v, c), "{t}: {v}");
    }
}

#[test]
fn url_prefix_entries_match_paths_under_them_only() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    // UT1 ships test URLs for each category under this host.
    let targets: Vec<String> = [
        "http://cri.univ-tlse1.fr/tools/test_filtrage/gambling/",
        "http://cri.univ-tlse1.fr/tools/test_filtrage/gambling/page.html?x=1",
        "HTTP://CRI.UNIV-TLSE1.FR:80/tools/test_filtrage/%67ambling/",
        "http://user@cri.univ-tlse1.fr/tools/test_filtrage/gambling/",
        "http://cri.univ-tlse1.fr/tools/other/",
        "cri.univ-tlse1.fr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let v = check_json(&cfg, &["--group", "everything"], &targets);
    for i in 0..4 {
        assert!(has_category(&v[i], "gambling"), "{}: {}", targets[i], v[i]);
        assert_eq!(v[i]["action"], "block", "{}", v[i]);
    }
    for i in 4..6 {
        assert!(!has_category(&v[i], "gambling"), "{}: {}", targets[i], v[i]);
    }
}

#[test]
fn tricks_do_not_get_round_the_lists() {
    let ut1 = ut1_dir();
    let tmp = tempfile::tempdir().unwrap();
    // A local list adds IPv6, IDN and a second IPv4 entry to UT1.
    std::fs::write(
        tmp.path().join("local.txt"),
        "2001:db8::7\nbücher-verboten.example\nxn--mnchen-3ya.example\n10.9.8.7\n",
    )
    .unwrap();
    let cfg = config(
        tmp.path(),
        r#"
[[lists.sources]]
name = "local"
path = "local.txt"
format = "domains"
category = "local"

[policy.groups.local]
block_categories = ["local", "gambling", "agressif"]
"#,
    );
    let gambling = first_domain(&ut1, "gambling").unwrap();
    let ip = "128.121.249.189"; // in agressif/domains
    let cases: Vec<(String, bool)> = vec![
        (gambling.to_uppercase(), true),
        (format!("{gambling}."), true),
        (format!("{gambling}:8443"), true),
        (format!("https://teacher@{gambling}/"), true),
        (
            format!("https://{}/", gambling.replacen('a', "%61", 1)),
            true,
        ),
        (format!("http://www.{gambling}.:443/x"), true),
        (format!("not{gambling}"), false),
        (format!("{gambling}.evil.example"), false),
        (format!("http://{gambling}.evil.example/"), false),
        (ip.to_string(), true),
        ("http://2155477437/".to_string(), true), // 128.121.249.189 as one number
        ("http://0x80.0x79.0xf9.0xbd/".to_string(), true),
        ("http://0200.0171.0371.0275/".to_string(), true),
        ("http://10.591879/".to_string(), true), // 10.9.8.7
        ("http://[2001:DB8:0::7]:80/".to_string(), true),
        ("http://[2001:db8::8]/".to_string(), false),
        ("bücher-verboten.example".to_string(), true),
        ("xn--bcher-verboten-gsb.example".to_string(), true),
        ("www.BÜCHER-verboten.example".to_string(), true),
        ("münchen.example".to_string(), true),
        ("ｍüｎｃｈｅｎ.example".to_string(), true),
        // Cyrillic "с" in place of Latin "c": another domain, not this entry.
        ("büсher-verboten.example".to_string(), false),
    ];
    let targets: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    let v = check_json(&cfg, &["--group", "local"], &targets);
    for ((t, blocked), v) in cases.iter().zip(&v) {
        assert_eq!(v["action"] == "block", *blocked, "{t}: {v}");
    }
}

#[test]
fn runs_with_no_configuration_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args([
            "check",
            "--json",
            "example.com",
            "use-application-dns.net",
            "www.google.com",
        ])
        .current_dir(tmp.path())
        .env("TUTELA_LOG", "error")
        .env_remove("TUTELA_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["action"], "allow");
    assert_eq!(v[0]["group"], "pupils");
    assert_eq!(v[1]["action"], "block");
    assert_eq!(v[1]["rule"], "circumvention");
    assert_eq!(v[2]["action"], "safesearch");
    assert_eq!(v[2]["safesearch"], "forcesafesearch.google.com");
    // A one-off check writes nothing.
    assert!(!tmp.path().join("tutela-data").exists());
}

#[test]
fn human_output_is_one_line_per_target_and_escapes_control_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let out = tutela(&[
        "--config",
        cfg.to_str().unwrap(),
        "check",
        "--group",
        "everything",
        "0-casino.info",
        "example.org",
        "http://example.org/\u{1b}[31mred",
        "http://exa mple.org/",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unparsable target sets exit code 1"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("BLOCK") && lines[0].contains("gambling"),
        "{text}"
    );
    assert!(lines[1].starts_with("ALLOW"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape characters must not reach the terminal: {text:?}"
    );
    assert!(lines[3].starts_with("ERROR"), "{text}");
}

#[test]
fn groups_by_ip_and_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        r#"
[[policy.identities]]
subnet = "10.1.0.0/16"
group = "sixth-form"

[policy.groups.sixth-form]
block_categories = ["social_networks"]

[[policy.groups.sixth-form.schedule]]
days = ["weekdays"]
from = "12:00"
to = "13:30"
allow_categories = ["social_networks"]
"#,
    );
    let t = vec!["facebook.com".to_string()];
    // Tuesday 1 December 2026: GMT, so local time = UTC.
    let lunch = check_json(
        &cfg,
        &["--ip", "10.1.2.3", "--at", "2026-12-01T12:30:00Z"],
        &t,
    );
    assert_eq!(lunch[0]["action"], "allow", "{}", lunch[0]);
    assert_eq!(lunch[0]["group"], "sixth-form");
    let lesson = check_json(
        &cfg,
        &["--ip", "10.1.2.3", "--at", "2026-12-01T14:00:00Z"],
        &t,
    );
    assert_eq!(lesson[0]["action"], "block", "{}", lesson[0]);
    let saturday = check_json(
        &cfg,
        &["--ip", "10.1.2.3", "--at", "2026-12-05T12:30:00Z"],
        &t,
    );
    assert_eq!(saturday[0]["action"], "block", "{}", saturday[0]);
    let elsewhere = check_json(&cfg, &["--ip", "192.168.1.1"], &t);
    assert_eq!(elsewhere[0]["group"], "pupils");
}

#[test]
fn illegal_tier_beats_every_kind_of_allow_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("iwf.txt"),
        "abuse.example/gallery/\nwhole-site.example\n",
    )
    .unwrap();
    let cfg = config(
        tmp.path(),
        r#"
[[illegal]]
name = "iwf"
path = "iwf.txt"
format = "urls"
category = "iwf"

[policy.groups.trusting]
role = "staff"
walled_garden = true
allow_sites = ["abuse.example", "whole-site.example"]

[[policy.overrides]]
site = "whole-site.example"
action = "allow"
reason = "an administrator tries to unblock it"
"#,
    );
    let targets: Vec<String> = [
        "http://abuse.example/gallery/1.jpg",
        "http://WWW.ABUSE.EXAMPLE:80/%67allery/",
        "whole-site.example",
        "http://abuse.example/other",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for group in ["trusting", "open", "everything"] {
        let v = check_json(&cfg, &["--group", group], &targets);
        for i in 0..3 {
            assert_eq!(v[i]["action"], "block", "{group} {}: {}", targets[i], v[i]);
            assert_eq!(v[i]["rule"], "illegal-tier", "{}", v[i]);
            assert!(has_category(&v[i], "iwf"), "{}", v[i]);
        }
    }
    let v = check_json(&cfg, &["--group", "trusting"], &targets);
    assert_eq!(v[3]["action"], "allow", "{}", v[3]);

    // Naming the tier in allow_categories is refused outright.
    let bad = config(
        tmp.path(),
        r#"
[[illegal]]
name = "iwf"
path = "iwf.txt"
format = "urls"
category = "iwf"

[policy.groups.sneaky]
allow_categories = ["iwf"]
"#,
    );
    let out = tutela(&["--config", bad.to_str().unwrap(), "check", "example.com"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("groups.sneaky") && err.contains("illegal"),
        "{err}"
    );
}

#[test]
fn lists_stats_reports_counts_and_malformed_lines() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("dirty.txt"),
        b"ok.example\ncom\nbad..example\n\xff\xfe\nfine.example\n",
    )
    .unwrap();
    let cfg = config(
        tmp.path(),
        r#"
[[lists.sources]]
name = "dirty"
path = "dirty.txt"
category = "custom"

[[lists.sources]]
name = "gone"
path = "missing.txt"
category = "custom2"
"#,
    );
    let out = tutela(&["--config", cfg.to_str().unwrap(), "lists", "stats"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let gambling = text.lines().find(|l| l.starts_with("gambling ")).unwrap();
    let count: u64 = gambling.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count > 30_000, "{gambling}");
    assert!(text.contains("dirty.txt:3"), "{text}");
    assert!(text.contains("dirty.txt:4"), "{text}");
    assert!(text.contains("malformed=2"), "{text}");
    assert!(text.contains("skipped_public_suffix=1"), "{text}");
    assert!(text.contains("gone") && text.contains("FAILED"), "{text}");
    assert!(text.contains("compiled in"), "{text}");

    let out = tutela(&[
        "--config",
        cfg.to_str().unwrap(),
        "lists",
        "stats",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dirty = v["lists"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "dirty")
        .unwrap();
    assert_eq!(dirty["malformed"], 2);
    assert_eq!(dirty["malformed_examples"][0]["line"], 3);
}

#[test]
fn bad_config_names_the_key_and_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        "data_dir = \"d\"\n\n[policy.groups.pupils]\nblock_categorys = [\"adult\"]\n",
    )
    .unwrap();
    let out = tutela(&["--config", path.to_str().unwrap(), "check", "example.com"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4") && err.contains("block_categorys"),
        "{err}"
    );

    std::fs::write(&path, "[policy]\ntimezone = \"Mars/Olympus\"\n").unwrap();
    let out = tutela(&["--config", path.to_str().unwrap(), "check", "example.com"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.timezone") && err.contains("Mars/Olympus"),
        "{err}"
    );

    let out = tutela(&[
        "--config",
        "/nonexistent/tutela.toml",
        "check",
        "example.com",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/tutela.toml"), "{err}");
}

/// Runs `tutela serve` until `ready` exists (or 60 s), two seconds more,
/// then Ctrl-C; returns the log after checking it exited cleanly.
fn serve_until(cfg: &Path, ready: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("TUTELA_LOG", "info")
        .env_remove("TUTELA_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "serve exited early");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("DNS filter listening"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    log
}

#[test]
fn serve_starts_keeps_running_and_stops_cleanly_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    let db = tmp.path().join("data/tutela.db");
    let log = serve_until(&cfg, &db);
    assert!(db.exists(), "{log}");
    assert!(log.contains("generation=1"), "{log}");
}

#[test]
fn serve_keeps_filtering_while_the_database_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens here: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = config(
        tmp.path(),
        &format!("[store]\ndatabase_url = \"postgres://postgres@{closed}/none\"\n"),
    );
    let log = serve_until(&cfg, &tmp.path().join("data/journal"));
    assert!(log.contains("event store unavailable"), "{log}");
}

/// `dig` at 127.0.0.1:`port`; `dig` must be installed (scripts/test.sh
/// installs it).
fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+tries=1", "+time=2"])
        .args(args)
        .output()
        .expect("dig is needed: apt-get install -y bind9-dnsutils");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn serve_answers_dns_by_group_and_logs_every_query() {
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        port
    };
    // Nothing listens on the upstream: blocks and canaries need none.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = config(
        tmp.path(),
        &format!(
            "[[policy.identities]]\nsubnet = \"127.0.0.2/32\"\ngroup = \"open\"\n\n[dns]\nupstreams = [\"{dead}\"]\nupstream_timeout = \"200ms\"\n"
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "dns = \"127.0.0.1:0\"",
        &format!("dns = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&cfg, text).unwrap();
    let gambling = first_domain(&ut1_dir(), "gambling").expect("a gambling domain");

    let child = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("TUTELA_LOG", "info")
        .env_remove("TUTELA_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut blocked = String::new();
    while std::time::Instant::now() < deadline {
        blocked = dig(port, &[&format!("www.{gambling}"), "A"]);
        if blocked.contains("ANSWER SECTION") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Pupils (the default group) get the block page's address.
    assert!(blocked.contains("\t127.0.0.1"), "{blocked}");
    let canary = dig(port, &["use-application-dns.net"]);
    assert!(canary.contains("status: NXDOMAIN"), "{canary}");
    // The "open" group (127.0.0.2) blocks nothing: the query goes upstream,
    // which is dead, so SERVFAIL, and never the block page.
    let open = dig(port, &["-b", "127.0.0.2", &format!("www.{gambling}"), "A"]);
    assert!(open.contains("status: SERVFAIL"), "{open}");

    std::thread::sleep(std::time::Duration::from_millis(600));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("DNS filter listening"), "{log}");

    let out = tutela(&["--config", cfg.to_str().unwrap(), "log", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let host = format!("www.{gambling}");
    let block = events
        .iter()
        .find(|e| e["host"] == host.as_str() && e["action"] == "block")
        .unwrap_or_else(|| panic!("no block event for {host}: {text}"));
    assert_eq!(block["group"], "pupils", "{block}");
    assert_eq!(block["protocol"], "dns", "{block}");
    assert!(
        events
            .iter()
            .any(|e| e["host"] == host.as_str() && e["group"] == "open" && e["action"] == "allow"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["host"] == "use-application-dns.net" && e["rule"] == "circumvention"),
        "{text}"
    );
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl -x` through the proxy at `port`: (status, body).
fn curl_via(port: u16, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-x",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is needed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn serve_filters_through_the_proxy_and_logs_every_request() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let cfg = config(
        tmp.path(),
        "[[policy.identities]]\nsubnet = \"127.0.0.2/32\"\ngroup = \"open\"\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "proxy = \"127.0.0.1:0\"",
        &format!("proxy = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&cfg, text).unwrap();
    let gambling = first_domain(&ut1_dir(), "gambling").expect("a gambling domain");
    let url = format!("http://www.{gambling}/play?q=%3Cb%3E");

    let child = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("TUTELA_LOG", "info")
        .env_remove("TUTELA_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut code, mut body) = (0, String::new());
    while std::time::Instant::now() < deadline {
        (code, body) = curl_via(port, &[&url]);
        if code != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Pupils (the default group) get the block page, which says why.
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("This page is blocked") && body.contains("gambling"),
        "{body}"
    );
    // The open group is not blocked: the proxy tries the site itself (and,
    // with no network here, reports that it cannot reach it).
    let (code, body) = curl_via(port, &["--interface", "127.0.0.2", &url]);
    assert_ne!(code, 403, "{body}");
    assert!(!body.contains("This page is blocked"), "{body}");

    std::thread::sleep(std::time::Duration::from_millis(600));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("filtering proxy listening"), "{log}");

    let out = tutela(&["--config", cfg.to_str().unwrap(), "log", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let host = format!("www.{gambling}");
    let block = events
        .iter()
        .find(|e| e["host"] == host.as_str() && e["action"] == "block")
        .unwrap_or_else(|| panic!("no block event for {host}: {text}"));
    assert_eq!(block["group"], "pupils", "{block}");
    assert_eq!(block["protocol"], "http", "{block}");
    assert!(
        events
            .iter()
            .any(|e| e["host"] == host.as_str() && e["group"] == "open" && e["action"] == "allow"),
        "{text}"
    );
}

#[test]
fn serve_signs_proxy_users_in_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let cfg = config(tmp.path(), "[proxy]\nauthentication = \"required\"\n");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "proxy = \"127.0.0.1:0\"",
        &format!("proxy = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = tutela(&["--config", cfg.to_str().unwrap(), "db", "migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The password goes in on standard input, never the command line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"correct horse\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let db = rusqlite::Connection::open(tmp.path().join("data/tutela.db")).unwrap();
    db.execute_batch(&format!(
        "INSERT INTO groups (id, name) VALUES (7, 'open');
         INSERT INTO users (id, username, password_hash, created_us) VALUES (1, 'teacher1', '{hash}', 0);
         INSERT INTO users (id, username, password_hash, disabled, created_us) VALUES (2, 'leaver', '{hash}', 1, 0);
         INSERT INTO memberships (user_id, group_id) VALUES (1, 7);"
    ))
    .unwrap();
    drop(db);
    let gambling = first_domain(&ut1_dir(), "gambling").expect("a gambling domain");
    let url = format!("http://www.{gambling}/");

    let child = Command::new(env!("CARGO_BIN_EXE_tutela"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .env("TUTELA_LOG", "info")
        .env_remove("TUTELA_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut code = 0;
    while std::time::Instant::now() < deadline {
        (code, _) = curl_via(port, &[&url]);
        if code != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(code, 407, "sign-in is required");
    let (code, _) = curl_via(port, &["--proxy-user", "leaver:correct horse", &url]);
    assert_eq!(code, 407, "a disabled user cannot sign in");
    let (code, body) = curl_via(port, &["--proxy-user", "teacher1:correct horse", &url]);
    assert!(
        code != 403 && code != 407,
        "the open group's policy: {code} {body}"
    );

    std::thread::sleep(std::time::Duration::from_millis(600));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tutela(&["--config", cfg.to_str().unwrap(), "log", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.lines().any(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["user"] == "teacher1" && e["group"] == "open" && e["action"] == "allow"
        }),
        "{text}"
    );
}
