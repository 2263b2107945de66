//! The console in a real browser: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by
//! scripts/test.sh), against the real `tutela serve` with its real proxy.
//! First-run set-up, TOTP enrolment and sign-in, creating a group and its
//! policy, checking a URL,
//! requesting, approving and auto-reverting a temporary unblock, and
//! searching the log for a hostile URL. Screenshots of the main pages go to
//! `$TMPDIR/tutela-screenshots`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, console: u16, proxy: u16) -> PathBuf {
    std::fs::write(dir.join("adult.txt"), "blocked.example\n").unwrap();
    let text = format!(
        r#"
data_dir = "data"

[listeners]
dns = "127.0.0.1:0"
proxy = "127.0.0.1:{proxy}"
console = "127.0.0.1:{console}"

[[lists.sources]]
name = "test"
path = "{list}"
format = "domains"
category = "adult"

[policy.groups.pupils]
block_categories = ["adult"]

[console]
revert_check = "1s"
"#,
        list = dir.join("adult.txt").display()
    );
    let path = dir.join("tutela.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait_for_http(port: u16, process: &mut Killed) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("the process for port {port} ended: {status}");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listening on {port}");
}

fn totp_code(secret: &str, at: u64) -> String {
    tutela_console::auth::totp(secret, "x")
        .unwrap()
        .generate(at)
}

fn now_s() -> u64 {
    jiff::Timestamp::now().as_second() as u64
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Clicks, and waits for the next page to load if the click leads to one
/// (a link or a form), so what follows reads the new page.
async fn click(c: &Client, css: &str) {
    c.execute("window.__tutelaOldPage = true;", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let state = c
            .execute(
                "return (window.__tutelaOldPage === true ? 'old' : document.readyState);",
                vec![],
            )
            .await;
        if let Ok(serde_json::Value::String(s)) = state {
            if s == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} loaded no new page");
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn path(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = std::env::temp_dir().join("tutela-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Polls the page at `url` until its text contains `want`.
async fn until_page_says(c: &Client, url: &str, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        c.goto(url).await.unwrap();
        let t = text(c).await;
        if t.contains(want) || Instant::now() > deadline {
            assert!(t.contains(want), "{url} never said {want:?}: {t}");
            return t;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_from_first_run_to_an_auto_reverted_unblock() {
    let tmp = tempfile::tempdir().unwrap();
    let (console_port, proxy_port, driver_port) =
        (free_tcp_port(), free_tcp_port(), free_tcp_port());
    let cfg = config(tmp.path(), console_port, proxy_port);
    let mut serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_tutela"))
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .current_dir(tmp.path())
            .env("TUTELA_LOG", "warn")
            .env_remove("TUTELA_CONFIG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (scripts/test.sh installs chromium-driver)"),
    );
    wait_for_http(console_port, &mut serve).await;
    wait_for_http(driver_port, &mut driver).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     "--user-data-dir=".to_string() + tmp.path().join("profile").to_str().unwrap()]
        }),
    );
    // chromedriver is on loopback: plain HTTP, no TLS stack needed.
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver session");
    let base = format!("http://127.0.0.1:{console_port}");

    // First run: every page leads to set-up.
    c.goto(&format!("{base}/logs")).await.unwrap();
    assert_eq!(path(&c).await, "/setup");
    screenshot(&c, "01-setup").await;
    fill(&c, "#username", "itadmin").await;
    fill(&c, "#display_name", "Ada IT").await;
    fill(&c, "#password", "correct horse battery").await;
    fill(&c, "#confirm", "correct horse battery").await;
    click(&c, "button[type=submit]").await;
    let at = path(&c).await;
    assert!(
        at.starts_with("/account/second-factor"),
        "{at}: {}",
        text(&c).await
    );
    screenshot(&c, "02-enrol-totp").await;
    let secret = c
        .find(Locator::Css("#totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let enrolled_at = now_s();
    fill(&c, "#code", &totp_code(&secret, enrolled_at)).await;
    click(&c, "button[type=submit]").await;
    // Secure, SameSite cookies over http://127.0.0.1 work in the browser.
    assert_eq!(path(&c).await, "/");
    assert!(text(&c).await.contains("Requests today"));

    // Sign out, and back in with a password and a fresh code.
    click(&c, "form.signout button").await;
    assert!(path(&c).await.starts_with("/login"));
    fill(&c, "#username", "itadmin").await;
    fill(&c, "#password", "correct horse battery").await;
    click(&c, "button[type=submit]").await;
    let at = path(&c).await;
    assert!(
        at.starts_with("/login/second-factor"),
        "{at}: {}",
        text(&c).await
    );
    screenshot(&c, "03-second-factor").await;
    // A code works once: wait for the next one.
    while now_s() / 30 == enrolled_at / 30 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fill(&c, "#code", &totp_code(&secret, now_s())).await;
    click(&c, "button[type=submit]").await;
    assert_eq!(path(&c).await, "/");

    // A pupil's browser hits a blocked page through the proxy, with hostile
    // text in the URL.
    let hostile = "http://blocked.example/lesson%3Cscript%3Ealert(1)%3C/script%3E";
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "-x",
            &format!("http://127.0.0.1:{proxy_port}"),
            hostile,
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");

    // Create a group and its policy, and check a URL against it.
    c.goto(&format!("{base}/policies")).await.unwrap();
    fill(&c, "#name", "year9").await;
    click(&c, "form[action='/policies'] button[type=submit]").await;
    assert_eq!(path(&c).await, "/policies/year9");
    fill(&c, "#block_sites", "example.org/forbidden").await;
    click(&c, "main form button[type=submit]").await;
    screenshot(&c, "04a-policy").await;
    until_page_says(
        &c,
        &format!("{base}/check?url=http%3A%2F%2Fexample.org%2Fforbidden%2Fpage&group=year9"),
        "is on the year9 block list",
        Duration::from_secs(10),
    )
    .await;
    let t = until_page_says(
        &c,
        &format!("{base}/check?url=http%3A%2F%2Fexample.org%2Fallowed&group=year9"),
        "allowed",
        Duration::from_secs(10),
    )
    .await;
    assert!(!t.contains("block list"), "{t}");

    // Check a URL.
    c.goto(&format!("{base}/check")).await.unwrap();
    fill(&c, "#url", "http://blocked.example/lesson").await;
    click(&c, "main button[type=submit]").await;
    let t = text(&c).await;
    assert!(
        t.contains("block") && t.contains("adult is blocked for pupils"),
        "{t}"
    );
    screenshot(&c, "04-check").await;

    // Request a temporary unblock from there, reverting in 25 seconds.
    click(&c, "a.button").await;
    assert!(path(&c).await.starts_with("/unblocks/new"));
    fill(&c, "#audience", "Year 9 history").await;
    fill(&c, "#reason", "Source analysis lesson").await;
    let revert = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(25))
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    c.execute(
        "const e = document.getElementById('revert_at'); e.step = 1; e.value = arguments[0];",
        vec![serde_json::json!(revert)],
    )
    .await
    .unwrap();
    screenshot(&c, "05-unblock-form").await;
    click(&c, "main form button[type=submit]").await;
    assert!(
        path(&c).await.starts_with("/unblocks?created="),
        "{}",
        path(&c).await
    );
    assert!(text(&c).await.contains("pending"));

    // Approve it: the policy allows the site at once.
    fill(&c, "input[name=note]", "OK for the lesson").await;
    click(&c, "button[value=approve]").await;
    assert!(text(&c).await.contains("approved"));
    screenshot(&c, "06-change-control").await;
    let check = format!("{base}/check?url=http%3A%2F%2Fblocked.example%2Flesson");
    until_page_says(
        &c,
        &check,
        "allowed by an override",
        Duration::from_secs(10),
    )
    .await;

    // At the reversion time it ends by itself, and the site is blocked again.
    until_page_says(
        &c,
        &format!("{base}/unblocks?status=reverted"),
        "Source analysis lesson",
        Duration::from_secs(60),
    )
    .await;
    until_page_says(
        &c,
        &check,
        "adult is blocked for pupils",
        Duration::from_secs(10),
    )
    .await;

    // Search the log: the hostile URL shows as text, and no script runs.
    c.goto(&format!("{base}/logs")).await.unwrap();
    fill(&c, "#host", "blocked.example").await;
    click(&c, "main form button[type=submit]").await;
    let t = text(&c).await;
    assert!(
        t.contains("<script>alert(1)</script>") || t.contains("%3Cscript%3E"),
        "{t}"
    );
    let scripts = c
        .execute("return document.querySelectorAll('script').length;", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, serde_json::json!(0));
    screenshot(&c, "07-log-search").await;
    c.goto(&format!("{base}/devices/setup")).await.unwrap();
    screenshot(&c, "08-device-setup").await;
    // On a phone: the pages reflow, nothing is wider than the screen.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/", "09-phone-overview"),
        ("/unblocks/new", "10-phone-unblock-form"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let overflow = c
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{path} is wider than a phone by {overflow}"
        );
        screenshot(&c, name).await;
    }
    c.close().await.unwrap();
}
