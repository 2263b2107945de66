//! Safeguarding alerts in the console: triage with notes (audited, and the
//! notes kept), the pupil's browsing around an alert, hostile text escaped,
//! exclusions, and lexicon edits checked before they are saved.

mod support;

use std::sync::atomic::Ordering;

use support::Harness;
use tutela_console::Role;
use tutela_store::alerts::{self, AlertState, NewAlert};
use tutela_store::{AccessEvent, EventRef, Protocol};

const XSS: &str = "<script>alert(1)</script>";

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn event(user: &str, minutes_ago: i64, host: &str) -> AccessEvent {
    AccessEvent {
        reference: EventRef(5_000 + minutes_ago),
        time_us: now_us() - minutes_ago * 60_000_000,
        site: None,
        device: None,
        client_ip: "10.0.0.9".into(),
        user: Some(user.into()),
        group: Some("pupils".into()),
        protocol: Protocol::Http,
        host: host.as_bytes().to_vec(),
        url: Some(format!("http://{host}/").into_bytes()),
        search: None,
        action: "allow".into(),
        categories: Vec::new(),
        rule: String::new(),
        count: 1,
        page_view: true,
    }
}

fn raise(h: &Harness, subject: &str, excerpt: &str) -> i64 {
    alerts::raise(
        h.db().as_mut(),
        &NewAlert {
            time_us: now_us(),
            subject: subject.into(),
            group: Some("pupils".into()),
            theme: "self-harm".into(),
            severity: 5,
            rule: "cut myself".into(),
            source: "search".into(),
            excerpt: excerpt.into(),
            url: Some(format!("http://search.example/?q={XSS}")),
            event_ref: Some("00000000000AB".into()),
        },
        3_600_000_000,
    )
    .unwrap()
    .id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dsl_triages_an_alert_with_notes_and_sees_the_browsing_around_it() {
    let h = Harness::start().await;
    h.db()
        .insert_events(&[
            event("amy", 30, "before.example"),
            event("amy", 0, "during.example"),
            event("amy", 150, "long-before.example"),
            event("ben", 10, "someone-else.example"),
        ])
        .unwrap();
    let id = raise(&h, "amy", &format!("i want to cut myself {XSS}"));
    let admin_account = h.account("admin", Role::Administrator);
    let mut dsl = h.signed_in(&h.account("dsl", Role::Dsl)).await;

    let list = dsl.get("/alerts").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(&format!("/alerts/{id}")),
        "{}",
        list.body
    );

    let page = dsl.get(&format!("/alerts/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(XSS), "hostile text must be escaped");
    assert!(page.body.contains("&lt;script&gt;"));
    // An hour either side, this pupil only.
    assert!(page.body.contains("before.example") && page.body.contains("during.example"));
    assert!(!page.body.contains("long-before.example"));
    assert!(!page.body.contains("someone-else.example"));

    // No silent steps; then new → in review → escalated, each with a note.
    let r = dsl
        .post_form(
            &format!("/alerts/{id}/triage"),
            &[("from", "new"), ("to", "in_review"), ("note", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    for (from, to, note) in [
        ("new", "in_review", "Spoke to form tutor"),
        ("in_review", "escalated", "Referred to early help"),
    ] {
        let r = dsl
            .post_form(
                &format!("/alerts/{id}/triage"),
                &[("from", from), ("to", to), ("note", note)],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    // A stale form (it was new when this person looked) is refused.
    let r = dsl
        .post_form(
            &format!("/alerts/{id}/triage"),
            &[("from", "new"), ("to", "false_positive"), ("note", "x")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("someone else"), "{}", r.body);

    let mut db = h.db();
    let stored = alerts::get(db.as_mut(), id).unwrap().unwrap();
    assert_eq!(stored.state, AlertState::Escalated);
    let notes = alerts::notes(db.as_mut(), id).unwrap();
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|n| n.author == "dsl"));
    let audit = db.audit_log(100).unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.object == format!("alert:{id}"))
        .map(|a| a.action.as_str())
        .collect();
    assert!(actions.contains(&"alert.read"), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "alert.triage").count(), 2);

    // The API shows the same, with the context.
    let r = dsl.get(&format!("/api/v1/alerts/{id}")).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["alert"]["state"], "escalated");
    assert_eq!(v["notes"].as_array().unwrap().len(), 2);
    assert_eq!(v["context"].as_array().unwrap().len(), 2);

    // Staff and administrators do not see alerts.
    let mut admin = h.signed_in(&admin_account).await;
    assert_eq!(admin.get(&format!("/alerts/{id}")).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_and_lexicon_edits_are_checked_audited_and_reach_the_monitor() {
    let h = Harness::start().await;
    h.account("admin", Role::Administrator);
    let mut dsl = h.signed_in(&h.account("dsl", Role::Dsl)).await;

    let r = dsl
        .post_form(
            "/alerts/exclusions",
            &[
                ("term", "isis"),
                ("theme", "radicalisation"),
                ("group", "pupils"),
                ("from", "2026-01-01"),
                ("until", "2025-01-01"),
                ("reason", "Egyptology"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "an exclusion ending before it starts");
    let r = dsl
        .post_form(
            "/alerts/exclusions",
            &[
                ("term", "isis"),
                ("theme", "radicalisation"),
                ("group", "pupils"),
                ("from", "2026-01-01"),
                ("until", "2036-01-01"),
                ("reason", "Year 7 Egyptology"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = dsl.get("/alerts/exclusions").await;
    assert!(page.body.contains("Year 7 Egyptology"));
    let x = alerts::exclusions(h.db().as_mut(), Some(now_us())).unwrap();
    assert_eq!(x.len(), 1);
    let r = dsl
        .post_form(&format!("/alerts/exclusions/{}/end", x[0].id), &[])
        .await;
    assert_eq!(r.status, 303);
    assert!(alerts::exclusions(h.db().as_mut(), Some(now_us()))
        .unwrap()
        .is_empty());

    // A lexicon edit that does not parse, or claims another theme, is
    // refused with the reason; a good one is kept and audited.
    let original = tutela_monitor::lexicon::built_in()
        .into_iter()
        .find(|(f, _)| *f == "en/suicide.toml")
        .unwrap()
        .1;
    let r = dsl
        .post_form(
            "/lexicons/en/suicide.toml",
            &[("text", "theme = \"suicide\"\n[[rule]]\nphrase = \"x\"")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Not saved"), "{}", r.body);
    let other = original.replace("theme = \"suicide\"", "theme = \"drugs\"");
    let r = dsl
        .post_form("/lexicons/en/suicide.toml", &[("text", &other)])
        .await;
    assert_eq!(r.status, 400);
    let edited =
        format!("{original}\n[[rule]]\nphrase = \"goodbye forever {XSS}\"\nseverity = 4\n");
    let r = dsl
        .post_form("/lexicons/en/suicide.toml", &[("text", &edited)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = dsl.get("/lexicons/en/suicide.toml").await;
    assert!(page.body.contains("goodbye forever") && !page.body.contains(XSS));
    let versions = alerts::edited_lexicons(h.db().as_mut()).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].edited_by, "dsl");
    let audit = h.db().audit_log(50).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "lexicon.edit" && a.object == "lexicon:en/suicide.toml"));
    assert!(audit.iter().any(|a| a.action == "exclusion.add"));
    assert!(audit.iter().any(|a| a.action == "exclusion.end"));
    assert_eq!(
        h.monitor_reloads.load(Ordering::SeqCst),
        3,
        "add, end and edit each tell the monitor"
    );

    // The spellings (new slang, text-speak) are edited the same way: a
    // broken file is refused, a good one kept, audited and sent to the
    // monitor.
    let spellings = tutela_monitor::spelling::BUILT_IN;
    assert!(dsl
        .get("/lexicons")
        .await
        .body
        .contains("href=\"/lexicons/spellings.toml\""));
    let r = dsl
        .post_form(
            "/lexicons/spellings.toml",
            &[(
                "text",
                &format!("{spellings}\n[local]\nsuicide = \"unalive\"\n"),
            )],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Not saved") && r.body.contains("spellings.toml"),
        "{}",
        r.body
    );
    let slang = format!("{spellings}\n[local] # {XSS}\n\"kill myself\" = [\"klmslf\"]\n");
    let r = dsl
        .post_form("/lexicons/spellings.toml", &[("text", &slang)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = dsl.get("/lexicons/spellings.toml").await;
    assert!(page.body.contains("klmslf") && !page.body.contains(XSS));
    let audit = h.db().audit_log(50).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "lexicon.edit" && a.object == "lexicon:spellings.toml"));
    assert_eq!(h.monitor_reloads.load(Ordering::SeqCst), 4);
    let versions = alerts::edited_lexicons(h.db().as_mut()).unwrap();
    let edits: Vec<(String, String)> = versions.into_iter().map(|v| (v.file, v.text)).collect();
    let monitor = tutela_monitor::scanner_with_edits(&edits).unwrap();
    assert!(monitor
        .scan("gonna klmslf tonight")
        .iter()
        .any(|h| h.theme == "suicide" && h.severity >= 3));

    // A deputy may read the lexicons but not edit them.
    let mut deputy = h.signed_in(&h.account("deputy", Role::DeputyDsl)).await;
    assert_eq!(deputy.get("/lexicons/en/suicide.toml").await.status, 200);
    assert_eq!(
        deputy
            .post_form("/lexicons/en/suicide.toml", &[("text", original)])
            .await
            .status,
        403
    );
    assert_eq!(deputy.get("/lexicons/spellings.toml").await.status, 200);
    assert_eq!(
        deputy
            .post_form("/lexicons/spellings.toml", &[("text", spellings)])
            .await
            .status,
        403
    );
}
