//! A real browser through the proxy: headless Chromium with
//! `--proxy-server`, as a pupil's machine would be set up. Chromium and
//! chromium-driver come from Debian (scripts/test.sh installs them).

mod support;

use std::path::Path;
use std::time::Duration;

use support::{policy, Running};
use tutela_policy::config::GroupConfig;
use tutela_proxy::ListenLimits;

/// The page as Chromium rendered it (`--dump-dom`).
async fn chromium(proxy: &str, trust_spki: Option<&str>, profile: &Path, url: &str) -> String {
    let mut cmd = tokio::process::Command::new("chromium");
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--metrics-recording-only",
        "--virtual-time-budget=3000",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--proxy-server={proxy}"),
        "--dump-dom",
        url,
    ]);
    if let Some(spki) = trust_spki {
        // Trust the school's CA as an installed root would be: certificates
        // chaining to this key are accepted, no others are.
        cmd.arg(format!("--ignore-certificate-errors-spki-list={spki}"));
    }
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("chromium finished")
        .expect("chromium must be installed (scripts/test.sh installs it)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the CA certificate at `pem`.
fn spki_hash(pem: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64 -A",
            pem.display()
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_block_page_and_inspected_https_is_filtered_by_path() {
    // Chromium connects from 127.0.0.1: the default group here inspects TLS.
    let mut p = policy();
    p.groups.insert(
        "pupils".into(),
        GroupConfig {
            block_categories: vec!["adult".into()],
            block_sites: vec!["secure.example/private".into()],
            tls_inspection: true,
            ..GroupConfig::default_pupils()
        },
    );
    let t = Running::with_policy(ListenLimits::default(), p).await;
    let proxy = t.proxy_url();
    let profile = tempfile::tempdir().unwrap();
    let port = t.origin.port();
    let tls_port = t.tls.port();

    let allowed = chromium(
        &proxy,
        None,
        profile.path(),
        &format!("http://allowed.example:{port}/page.html"),
    )
    .await;
    assert!(
        allowed.contains("The school library opens at eight."),
        "{allowed}"
    );

    let blocked = chromium(
        &proxy,
        None,
        profile.path(),
        &format!("http://blocked.example:{port}/"),
    )
    .await;
    assert!(blocked.contains("This page is blocked"), "{blocked}");
    assert!(blocked.contains("adult"), "the reason: {blocked}");
    assert!(blocked.contains("Request a review"), "{blocked}");

    let spki = spki_hash(&t.tutela_ca);
    let private = chromium(
        &proxy,
        Some(&spki),
        profile.path(),
        &format!("https://secure.example:{tls_port}/private/diary"),
    )
    .await;
    assert!(private.contains("This page is blocked"), "{private}");
    assert!(private.contains("secure.example/private"), "{private}");

    let public = chromium(
        &proxy,
        Some(&spki),
        profile.path(),
        &format!("https://secure.example:{tls_port}/public"),
    )
    .await;
    assert!(public.contains("secure hello"), "{public}");
    assert!(!public.contains("This page is blocked"), "{public}");

    // Without the CA trusted, inspection cannot pass itself off as the
    // site: the browser refuses rather than showing anything.
    let untrusted = chromium(
        &proxy,
        None,
        profile.path(),
        &format!("https://secure.example:{tls_port}/public"),
    )
    .await;
    assert!(!untrusted.contains("secure hello"), "{untrusted}");
}
