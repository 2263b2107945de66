//! The alert pipeline with real parts: events and page text go into the
//! watcher, alerts into a SQLite store, and notifications out through a
//! real SMTP conversation and real HTTP webhooks on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::sinks::{SmtpSink, WebhookReceiver};
use tutela_alerts::deliver::Delivery;
use tutela_alerts::hours::{SchoolHours, Weekly};
use tutela_alerts::worker::Connect;
use tutela_alerts::{AlertWorker, Contact, EmailSettings, WatchRules, Watcher, WorkerOptions};
use tutela_monitor::{built_in_lexicons, EscalationRule, Scanner};
use tutela_proxy::{ContentObserver, PageContext, TextKind};
use tutela_store::alerts::{self, AlertFilter, AlertState, NewExclusion};
use tutela_store::{AccessEvent, EventRef, Protocol};

struct Rig {
    watcher: Watcher,
    worker: Option<AlertWorker>,
    smtp: SmtpSink,
    hooks: WebhookReceiver,
    connect: Connect,
    _dir: tempfile::TempDir,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown();
        }
    }
}

fn rig() -> Rig {
    rig_with("Mon 07:00", Duration::from_secs(60))
}

fn rig_with(digest: &str, tick: Duration) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tutela.db");
    let connect: Connect = Arc::new(move || {
        let mut db: Box<dyn tutela_store::Backend> =
            Box::new(tutela_store::sqlite::Sqlite::open(&path)?);
        db.migrate()?;
        Ok(db)
    });
    // Migrated before anything races to it.
    drop(connect().expect("store"));
    let smtp = SmtpSink::start();
    let hooks = WebhookReceiver::start();
    let contact = |name: &str, format: &str| Contact {
        name: name.into(),
        email: (format == "json").then(|| "dsl@school.test".to_string()),
        webhook: Some(hooks.url(&format!("/{format}"))),
        webhook_format: format.into(),
        when: "always".into(),
        immediate: 4,
        digest: true,
    };
    let delivery = Delivery::new(Some(&EmailSettings {
        server: "127.0.0.1".into(),
        port: smtp.addr.port(),
        security: "none".into(),
        username: None,
        password: None,
        from: "tutela@school.test".into(),
    }))
    .expect("delivery");
    let options = WorkerOptions {
        connect: connect.clone(),
        dedup_window_us: 3_600_000_000,
        timezone: jiff::tz::TimeZone::get("Europe/London").expect("tz"),
        school_hours: SchoolHours::parse("Mon-Fri 08:00-17:00").expect("hours"),
        digest: Weekly::parse(digest).expect("digest"),
        tick,
        console_url: "https://tutela.school.test".into(),
        contacts: vec![
            contact("DSL", "json"),
            contact("Teams", "teams"),
            contact("Slack", "slack"),
        ],
        delivery: Arc::new(delivery),
    };
    let settings = tutela_alerts::MonitorSettings::default();
    let rules = WatchRules {
        alert_severity: 3,
        escalation: EscalationRule::default(),
        escalation_severity: settings.escalation_severity.clone(),
        category_themes: settings.category_themes.clone(),
        page_text_limit: 64 * 1024,
    };
    let scanner = Scanner::new(&built_in_lexicons().expect("lexicons")).expect("scanner");
    let (worker, watcher) =
        AlertWorker::start(options, |tx| Watcher::new(scanner, rules, tx)).expect("worker");
    Rig {
        watcher,
        worker: Some(worker),
        smtp,
        hooks,
        connect,
        _dir: dir,
    }
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn event(user: &str, group: &str, search: Option<&str>, host: &str, action: &str) -> AccessEvent {
    AccessEvent {
        reference: EventRef(42),
        time_us: now_us(),
        site: None,
        device: None,
        client_ip: "10.0.0.7".into(),
        user: Some(user.into()),
        group: Some(group.into()),
        protocol: Protocol::Https,
        host: host.as_bytes().to_vec(),
        url: search
            .map(|s| format!("https://{host}/search?q={}", s.replace(' ', "+")).into_bytes()),
        search: search.map(str::to_string),
        action: action.into(),
        categories: Vec::new(),
        rule: String::new(),
        count: 1,
        page_view: true,
    }
}

const RAW: &str = "how to kill myself tonight";

#[test]
fn a_severe_search_reaches_email_and_every_webhook_without_its_words() {
    let rig = rig();
    let started = Instant::now();
    rig.watcher.event(&event(
        "amy",
        "year-9",
        Some(RAW),
        "www.google.com",
        "allow",
    ));
    let mail = rig.smtp.next(Duration::from_secs(10)).expect("an email");
    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(
            rig.hooks
                .next(Duration::from_secs(10))
                .expect("a webhook call"),
        );
    }
    let latest = calls
        .iter()
        .map(|c| c.received)
        .chain([mail.received])
        .max()
        .expect("times");
    eprintln!(
        "event to last notification: {:.1} ms",
        (latest - started).as_secs_f64() * 1000.0
    );
    assert!(mail.to.iter().any(|t| t.contains("dsl@school.test")));
    assert!(mail.data.contains("amy"), "{}", mail.data);
    assert!(mail.data.contains("Suicide"), "{}", mail.data);
    assert!(mail.data.contains("https://tutela.school.test/alerts/"));
    for c in &calls {
        let body = c.body.to_string();
        assert!(body.contains("amy"), "{} {body}", c.path);
        assert!(!body.contains("kill") && !body.contains("myself"), "{body}");
    }
    assert!(!mail.data.contains("kill") && !mail.data.contains("myself"));
    let paths: std::collections::BTreeSet<_> = calls.iter().map(|c| c.path.clone()).collect();
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        vec!["/json", "/slack", "/teams"]
    );
    let by_format = |p: &str| calls.iter().find(|c| c.path == p).map(|c| c.body.clone());
    assert_eq!(by_format("/json").expect("json")["severity"], 5);
    assert_eq!(by_format("/teams").expect("teams")["@type"], "MessageCard");
    assert!(by_format("/slack").expect("slack")["blocks"].is_array());

    // The alert is stored with its context, and marked as sent.
    let mut db = (rig.connect)().expect("store");
    let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0].theme.as_str(),
            stored[0].severity,
            stored[0].state,
            stored[0].source.as_str()
        ),
        ("suicide", 5, AlertState::New, "search")
    );
    assert!(stored[0].excerpt.contains("kill myself"), "{:?}", stored[0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alerts::get(db.as_mut(), stored[0].id)
        .expect("get")
        .and_then(|a| a.notified_us)
        .is_none()
    {
        assert!(Instant::now() < deadline, "the alert was never marked sent");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The same pupil again within the hour: folded, not sent again.
    rig.watcher.event(&event(
        "amy",
        "year-9",
        Some(RAW),
        "www.google.com",
        "allow",
    ));
    assert!(rig.smtp.next(Duration::from_millis(800)).is_none());
    let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
    assert_eq!((stored.len(), stored[0].hits), (1, 2));
}

#[test]
fn benign_searches_raise_nothing() {
    let rig = rig();
    for search in [
        "to kill a mockingbird essay",
        "how to kill the process in linux",
        "cut my hair short",
        "year 9 pshe mental health",
    ] {
        rig.watcher.event(&event(
            "ben",
            "year-9",
            Some(search),
            "www.google.com",
            "allow",
        ));
    }
    assert!(rig.smtp.next(Duration::from_millis(1500)).is_none());
    assert!(rig.hooks.next(Duration::from_millis(100)).is_none());
    let mut db = (rig.connect)().expect("store");
    assert!(alerts::list(db.as_mut(), &AlertFilter::default())
        .expect("list")
        .is_empty());
}

#[test]
fn three_blocked_self_harm_attempts_in_half_an_hour_raise_one_alert() {
    let rig = rig();
    // No single attempt says anything: only the category does.
    for host in ["a.example", "b.example", "a.example", "c.example"] {
        let mut e = event("cara", "year-8", None, host, "block");
        e.categories = vec!["self-harm".into()];
        rig.watcher.event(&e);
    }
    let mail = rig.smtp.next(Duration::from_secs(10)).expect("an email");
    assert!(mail.data.contains("repeated attempts"), "{}", mail.data);
    assert!(mail.data.contains("cara"));
    let mut db = (rig.connect)().expect("store");
    let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (
            stored[0].theme.as_str(),
            stored[0].severity,
            stored[0].source.as_str()
        ),
        ("self-harm", 5, "attempts")
    );
    // Two attempts by someone else are not enough.
    for host in ["a.example", "b.example"] {
        let mut e = event("dan", "year-8", None, host, "block");
        e.categories = vec!["self-harm".into()];
        rig.watcher.event(&e);
    }
    assert!(rig.smtp.next(Duration::from_millis(800)).is_none());
}

#[test]
fn an_exclusion_covers_its_group_and_term_only() {
    let rig = rig();
    {
        let mut db = (rig.connect)().expect("store");
        alerts::add_exclusion(
            db.as_mut(),
            &NewExclusion {
                term: "isis".into(),
                theme: Some("radicalisation".into()),
                group: Some("year-7".into()),
                from_us: now_us() - 1_000_000,
                until_us: now_us() + 3_600_000_000,
                reason: "Egyptology project".into(),
            },
            "dsl",
            now_us(),
        )
        .expect("exclusion");
    }
    // The worker reads exclusions when told.
    rig.worker.as_ref().expect("worker").reloader()();
    std::thread::sleep(Duration::from_millis(200));
    let search = Some("how to join isis as a teenager");
    rig.watcher
        .event(&event("eve", "year-7", search, "www.google.com", "allow"));
    rig.watcher
        .event(&event("fay", "year-10", search, "www.google.com", "allow"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut db = (rig.connect)().expect("store");
    loop {
        let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
        if !stored.is_empty() {
            std::thread::sleep(Duration::from_millis(300));
            let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
            assert_eq!(
                stored
                    .iter()
                    .map(|a| a.subject.as_str())
                    .collect::<Vec<_>>(),
                vec!["fay"]
            );
            break;
        }
        assert!(Instant::now() < deadline, "no alert for year 10");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn page_text_and_titles_are_scanned_as_they_stream() {
    let rig = rig();
    let page = PageContext {
        reference: EventRef(7),
        user: Some("gus".into()),
        group: "year-11".into(),
        client_ip: "10.0.0.9".parse().expect("ip"),
        url: "https://forum.example/t/1".into(),
        search: None,
        blocked: false,
    };
    let mut sink = rig
        .watcher
        .open(&page, TextKind::Html)
        .expect("html is read");
    let html = "<html><head><title>Pro-ana tips</title><script>var kill=1</script></head>\
                <body><p>I have been cutting myself every night</p></body></html>";
    // Chunks that split words and tags.
    for chunk in html.as_bytes().chunks(7) {
        sink.text(chunk);
    }
    sink.end(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut db = (rig.connect)().expect("store");
    let stored = loop {
        let stored = alerts::list(db.as_mut(), &AlertFilter::default()).expect("list");
        if stored.len() >= 2 || Instant::now() > deadline {
            break stored;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut found: Vec<(String, String)> = stored
        .iter()
        .map(|a| (a.theme.clone(), a.source.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("eating-disorders".to_string(), "title".to_string()),
            ("self-harm".to_string(), "page".to_string()),
        ],
        "{stored:?}"
    );
}

#[test]
fn the_weekly_digest_goes_once_with_counts_and_no_content() {
    // Due a minute ago, in the school's time zone.
    let tz = jiff::tz::TimeZone::get("Europe/London").expect("tz");
    let due = jiff::Timestamp::now().to_zoned(tz) - jiff::Span::new().minutes(1);
    let schedule = format!("{} {}", due.strftime("%a"), due.strftime("%H:%M"));
    let rig = rig_with(&schedule, Duration::from_millis(100));
    // An alert raised this week (severity 3: not sent at once).
    let mut e = event(
        "hal",
        "year-9",
        Some("how to buy weed"),
        "www.google.com",
        "allow",
    );
    e.time_us -= 60_000_000;
    rig.watcher.event(&e);
    let mut digests = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(mail) = rig.smtp.next(Duration::from_millis(200)) {
            if mail.data.contains("digest") {
                digests.push(mail);
            }
        }
    }
    assert_eq!(digests.len(), 1, "one digest, however many ticks");
    let text = &digests[0].data;
    assert!(text.contains("weekly safeguarding digest"), "{text}");
    assert!(text.contains("https://tutela.school.test/alerts"), "{text}");
    assert!(!text.contains("weed"), "no content in the digest: {text}");
    let mut db = (rig.connect)().expect("store");
    let week = due.date().to_string();
    assert!(!alerts::claim_digest(db.as_mut(), &week, 0).expect("claim"));
}
