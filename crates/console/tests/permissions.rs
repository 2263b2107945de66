//! The permission matrix, endpoint by endpoint and role by role, against a
//! running console; and the README's table is the code's.

mod support;

use support::{Client, Harness};
use tutela_console::{Permission, Role};

/// What a request asks for, and the permission it needs.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    needs: Permission,
}

const PAGES: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/",
        needs: Permission::ViewSummary,
    },
    Endpoint {
        method: "GET",
        path: "/logs",
        needs: Permission::SearchLogs,
    },
    Endpoint {
        method: "GET",
        path: "/logs.csv",
        needs: Permission::ExportLogs,
    },
    Endpoint {
        method: "GET",
        path: "/timeline?user=pupil1",
        needs: Permission::SearchLogs,
    },
    Endpoint {
        method: "GET",
        path: "/check?url=blocked.example",
        needs: Permission::CheckUrl,
    },
    Endpoint {
        method: "GET",
        path: "/unblocks",
        needs: Permission::ViewChanges,
    },
    Endpoint {
        method: "GET",
        path: "/unblocks.csv",
        needs: Permission::ViewChanges,
    },
    Endpoint {
        method: "GET",
        path: "/unblocks/new?url=blocked.example",
        needs: Permission::RequestUnblock,
    },
    Endpoint {
        method: "GET",
        path: "/audit",
        needs: Permission::ViewAudit,
    },
    Endpoint {
        method: "GET",
        path: "/users",
        needs: Permission::ViewUsers,
    },
    Endpoint {
        method: "GET",
        path: "/devices/setup",
        needs: Permission::ViewDeviceSetup,
    },
    Endpoint {
        method: "POST",
        path: "/unblocks",
        needs: Permission::RequestUnblock,
    },
    Endpoint {
        method: "POST",
        path: "/unblocks/{id}/decide",
        needs: Permission::DecideUnblock,
    },
    Endpoint {
        method: "POST",
        path: "/users",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/users/import",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/users/import",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/users/import/confirm",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/logs",
        needs: Permission::SearchLogs,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/check?url=blocked.example",
        needs: Permission::CheckUrl,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/unblocks",
        needs: Permission::ViewChanges,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/audit",
        needs: Permission::ViewAudit,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/users",
        needs: Permission::ViewUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/unblocks",
        needs: Permission::RequestUnblock,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/unblocks/{id}/decide",
        needs: Permission::DecideUnblock,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/users",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/users/import",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/network",
        needs: Permission::ViewUsers,
    },
    Endpoint {
        method: "POST",
        path: "/network/subnets",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/network/subnets/{id}/remove",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/network/devices",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/network/devices/{id}/remove",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/network",
        needs: Permission::ViewUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/network/subnets",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/network/subnets/{id}/remove",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/network/devices",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/network/devices/{id}/remove",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/policies",
        needs: Permission::ViewPolicy,
    },
    Endpoint {
        method: "POST",
        path: "/policies",
        needs: Permission::EditPolicy,
    },
    Endpoint {
        method: "GET",
        path: "/policies/pupils",
        needs: Permission::ViewPolicy,
    },
    Endpoint {
        method: "POST",
        path: "/policies/pupils",
        needs: Permission::EditPolicy,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/policies",
        needs: Permission::ViewPolicy,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/policies/{name}",
        needs: Permission::EditPolicy,
    },
    Endpoint {
        method: "POST",
        path: "/users/{user}/change",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/users/{user}/change",
        needs: Permission::ManageUsers,
    },
    Endpoint {
        method: "GET",
        path: "/alerts",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "GET",
        path: "/alerts/{id}",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "POST",
        path: "/alerts/{id}/triage",
        needs: Permission::TriageAlerts,
    },
    Endpoint {
        method: "GET",
        path: "/alerts/exclusions",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "POST",
        path: "/alerts/exclusions",
        needs: Permission::TriageAlerts,
    },
    Endpoint {
        method: "POST",
        path: "/alerts/exclusions/{exclusion}/end",
        needs: Permission::TriageAlerts,
    },
    Endpoint {
        method: "GET",
        path: "/lexicons",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "GET",
        path: "/lexicons/en/suicide.toml",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "POST",
        path: "/lexicons/en/suicide.toml",
        needs: Permission::EditLexicons,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/alerts",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/alerts/{id}",
        needs: Permission::ViewAlerts,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/alerts/{id}/triage",
        needs: Permission::TriageAlerts,
    },
];

fn revert_tomorrow() -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string()
}

/// A pending request to decide, made by the administrator.
async fn pending(admin: &mut Client) -> i64 {
    let r = admin
        .post_json(
            "/api/v1/unblocks",
            &serde_json::json!({
                "staff_name": "Ms Jones", "url": "https://blocked.example/lesson", "reason": "lesson",
                "revert_at": revert_tomorrow(), "audience": "Year 9",
            }),
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn call(c: &mut Client, admin: &mut Client, e: &Endpoint, n: usize) -> u16 {
    let id = if e.path.contains("/network/subnets/{id}") {
        let r = admin
            .post_json(
                "/api/v1/network/subnets",
                &serde_json::json!({"subnet": format!("10.9.{}.0/24", n % 250), "group": "pupils"}),
                true,
            )
            .await;
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
            .as_i64()
            .unwrap()
    } else if e.path.contains("/network/devices/{id}") {
        let r = admin
            .post_json(
                "/api/v1/network/devices",
                &serde_json::json!({"name": format!("laptop-{n}")}),
                true,
            )
            .await;
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
            .as_i64()
            .unwrap()
    } else if e.path.contains("/alerts/{id}") {
        // Made by alert_and_exclusions.
        1
    } else if e.path.contains("{id}") {
        pending(admin).await
    } else {
        0
    };
    let mut path = e.path.replace("{id}", &id.to_string());
    if path.contains("{exclusion}") {
        let next = NEXT_EXCLUSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        path = path.replace("{exclusion}", &next.to_string());
    }
    let path = if path.contains("{name}") {
        e.path.to_string()
    } else {
        path
    };
    let path = if path.contains("{user}") {
        // A fresh account to change each time.
        let r = admin
            .post_json(
                "/api/v1/users",
                &serde_json::json!({"username": format!("target-{n}"), "kind": "staff", "password": "a long enough password"}),
                true,
            )
            .await;
        let id = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
            .as_i64()
            .unwrap();
        path.replace("{user}", &id.to_string())
    } else {
        path
    };
    let username = format!("new-user-{n}");
    let revert = revert_tomorrow();
    let r = match (e.method, path.as_str()) {
        ("GET", p) => c.get(p).await,
        ("POST", "/unblocks") => {
            c.post_form(
                "/unblocks",
                &[("staff_name", "Mr Smith"), ("url", "https://blocked.example/x"), ("reason", "topic"),
                  ("revert_at", &revert), ("audience", "Year 10")],
            )
            .await
        }
        ("POST", p) if p.starts_with("/unblocks/") => {
            c.post_form(p, &[("decision", "refuse"), ("note", "no")]).await
        }
        ("POST", "/network/subnets") => {
            c.post_form("/network/subnets", &[("subnet", "10.20.0.0/16"), ("group", "pupils")]).await
        }
        ("POST", "/network/devices") => {
            c.post_form("/network/devices", &[("name", &format!("device-{n}"))]).await
        }
        ("POST", p) if p.starts_with("/network/") && p.ends_with("/remove") => c.post_form(p, &[]).await,
        ("POST", "/api/v1/network/subnets") => {
            c.post_json("/api/v1/network/subnets", &serde_json::json!({"subnet": "10.21.0.0/16", "group": "pupils", "site": "North"}), true).await
        }
        ("POST", "/api/v1/network/devices") => {
            c.post_json("/api/v1/network/devices", &serde_json::json!({"name": format!("api-device-{n}")}), true).await
        }
        ("POST", p) if p.starts_with("/api/v1/network/") && p.ends_with("/remove") => {
            c.post_json(p, &serde_json::json!({}), true).await
        }
        ("POST", "/policies") => {
            c.post_form("/policies", &[("name", &format!("g{n}")), ("copy_from", "pupils")]).await
        }
        ("POST", "/policies/pupils") => {
            c.post_form("/policies/pupils", &[("role", "pupil"), ("safesearch", "strict"), ("block:adult", "on")]).await
        }
        ("POST", "/api/v1/policies/{name}") => {
            c.post_json(&format!("/api/v1/policies/api{n}"), &serde_json::json!({"block_categories": ["adult"]}), true).await
        }
        ("POST", p) if p.starts_with("/users/") && p.ends_with("/change") => {
            c.post_form(p, &[("change", "disable")]).await
        }
        ("POST", p) if p.starts_with("/api/v1/users/") && p.ends_with("/change") => {
            c.post_json(p, &serde_json::json!({"change": "disable"}), true).await
        }
        ("POST", "/users/import") => {
            let csv = format!("username,kind\nimp-{n},pupil\n");
            c.post_multipart("/users/import", &[("default_kind", "pupil")], &csv).await
        }
        ("POST", "/users/import/confirm") => {
            let csv = format!("username,kind\nconf-{n},pupil\n");
            let data = base64_of(csv.as_bytes());
            c.post_form("/users/import/confirm", &[("data", &data), ("default_kind", "pupil")]).await
        }
        ("POST", "/api/v1/users/import") => {
            c.post_json("/api/v1/users/import", &serde_json::json!({"csv": format!("username\napi-{n}\n")}), true).await
        }
        ("POST", "/users") => {
            c.post_form("/users", &[("username", &username), ("kind", "pupil"), ("year_group", "Year 7")]).await
        }
        ("POST", "/api/v1/unblocks") => {
            c.post_json(
                &path,
                &serde_json::json!({"staff_name": "Mr Smith", "url": "https://blocked.example/y", "reason": "topic",
                    "revert_at": revert, "audience": "Year 10"}),
                true,
            )
            .await
        }
        ("POST", p) if p.starts_with("/api/v1/unblocks/") => {
            c.post_json(p, &serde_json::json!({"decision": "refuse"}), true).await
        }
        ("POST", "/api/v1/users") => {
            c.post_json("/api/v1/users", &serde_json::json!({"username": username, "kind": "pupil"}), true).await
        }
        ("POST", p) if p.starts_with("/alerts/") && p.ends_with("/triage") => {
            c.post_form(p, &[("from", "new"), ("to", "new"), ("note", "checked")]).await
        }
        ("POST", p) if p.starts_with("/api/v1/alerts/") => {
            c.post_json(p, &serde_json::json!({"from": "new", "to": "new", "note": "checked"}), true).await
        }
        ("POST", "/alerts/exclusions") => {
            c.post_form("/alerts/exclusions", &[("term", "isis"), ("theme", "radicalisation"), ("group", ""),
                ("from", "2026-01-01"), ("until", "2036-01-01"), ("reason", "Egyptology")]).await
        }
        ("POST", p) if p.starts_with("/alerts/exclusions/") => c.post_form(p, &[]).await,
        ("POST", p) if p.starts_with("/lexicons/") => {
            let text = tutela_monitor::lexicon::built_in()
                .into_iter()
                .find(|(f, _)| *f == "en/suicide.toml")
                .map(|(_, t)| t)
                .unwrap();
            c.post_form(p, &[("text", text)]).await
        }
        other => panic!("no call for {other:?}"),
    };
    if r.status >= 400 && r.status != 403 {
        panic!("{} {path}: {} {}", e.method, r.status, r.body);
    }
    r.status
}

/// Exclusions made for the matrix test, taken one per call.
static NEXT_EXCLUSION: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

/// One alert (id 1) and live exclusions for the endpoints to act on.
fn alert_and_exclusions(h: &Harness) {
    let mut db = h.db();
    let now = jiff::Timestamp::now().as_microsecond();
    tutela_store::alerts::raise(
        db.as_mut(),
        &tutela_store::alerts::NewAlert {
            time_us: now,
            subject: "pupil1".into(),
            group: Some("pupils".into()),
            theme: "suicide".into(),
            severity: 5,
            rule: "kill myself".into(),
            source: "search".into(),
            excerpt: "how to <b>".into(),
            url: None,
            event_ref: None,
        },
        3_600_000_000,
    )
    .unwrap();
    for _ in 0..60 {
        tutela_store::alerts::add_exclusion(
            db.as_mut(),
            &tutela_store::alerts::NewExclusion {
                term: "isis".into(),
                theme: None,
                group: None,
                from_us: now,
                until_us: now + 3_600_000_000,
                reason: "test".into(),
            },
            "dsl",
            now,
        )
        .unwrap();
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_obeys_the_matrix_for_every_role() {
    let h = Harness::start().await;
    let admin_account = h.account("matrix-admin", Role::Administrator);
    let mut admin = h.signed_in(&admin_account).await;
    alert_and_exclusions(&h);
    let mut n = 0;
    for role in Role::ALL {
        let account = h.account(&format!("as-{}", role.as_str()), role);
        let mut c = h.signed_in(&account).await;
        for e in PAGES {
            n += 1;
            let status = call(&mut c, &mut admin, e, n).await;
            if role.can(e.needs) {
                assert!(
                    (200..400).contains(&status),
                    "{role:?} may {:?}: {} {} gave {status}",
                    e.needs,
                    e.method,
                    e.path
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{role:?} may not {:?}: {} {}",
                    e.needs, e.method, e.path
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_but_public_files_without_signing_in() {
    let h = Harness::start().await;
    h.account("someone", Role::Administrator);
    let mut anon = h.client();
    for e in PAGES {
        let path = e
            .path
            .replace("{id}", "1")
            .replace("{user}", "1")
            .replace("{exclusion}", "1");
        let r = match e.method {
            "GET" => anon.get(&path).await,
            _ if path.starts_with("/api/") => {
                anon.post_json(&path, &serde_json::json!({}), false).await
            }
            _ => anon.post_raw(&path, &[("csrf", "x")]).await,
        };
        if path.starts_with("/api/") {
            assert!(
                matches!(r.status, 401 | 422 | 415 | 400),
                "{path}: {}",
                r.status
            );
            assert_ne!(r.status, 200);
        } else {
            assert_eq!(r.status, 303, "{path}");
            assert!(
                r.location().starts_with("/login"),
                "{path}: {}",
                r.location()
            );
        }
    }
    for public in [
        "/proxy.pac",
        "/tutela-ca.pem",
        "/api/openapi.json",
        "/assets/style.css",
        "/login",
    ] {
        assert_eq!(anon.get(public).await.status, 200, "{public}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_and_api_change_needs_the_csrf_token() {
    let h = Harness::start().await;
    let account = h.account("csrf-admin", Role::Administrator);
    let mut admin = h.signed_in(&account).await;
    let id = pending(&mut admin).await;
    let decide = format!("/unblocks/{id}/decide");
    let api_decide = format!("/api/v1/unblocks/{id}/decide");
    let revert = revert_tomorrow();
    let forms: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/unblocks",
            vec![
                ("staff_name", "a"),
                ("url", "blocked.example"),
                ("reason", "r"),
                ("revert_at", &revert),
                ("audience", "a"),
            ],
        ),
        (&decide, vec![("decision", "approve")]),
        ("/users", vec![("username", "sneaky"), ("kind", "pupil")]),
        (
            "/users/import/confirm",
            vec![
                ("data", "dXNlcm5hbWUKc25lYWt5Cg=="),
                ("default_kind", "pupil"),
            ],
        ),
        ("/logout", vec![]),
    ];
    for (path, fields) in &forms {
        let mut with_bad = vec![("csrf", "forged")];
        with_bad.extend(fields.iter().copied());
        let r = admin.post_raw(path, &with_bad).await;
        assert_eq!(r.status, 403, "{path} with a forged token");
        let r = admin.post_raw(path, fields).await;
        assert!(
            matches!(r.status, 403 | 422),
            "{path} without a token: {}",
            r.status
        );
    }
    for path in ["/api/v1/unblocks", &api_decide, "/api/v1/users"] {
        let r = admin
            .post_json(path, &serde_json::json!({"decision": "approve"}), false)
            .await;
        assert_eq!(r.status, 403, "{path} without X-CSRF-Token");
    }
    // A form from another site is refused whatever it carries.
    let r = admin
        .http
        .post(format!("{}/users", h.base))
        .header("origin", "https://evil.example")
        .header(
            "cookie",
            admin
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}&username=x&kind=pupil", admin.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing above changed anything.
    let mut db = h.db();
    assert!(tutela_store::people::user_named(db.as_mut(), "sneaky")
        .unwrap()
        .is_none());
    let u = tutela_store::unblock::get(db.as_mut(), id)
        .unwrap()
        .unwrap();
    assert_eq!(u.status, tutela_store::unblock::UnblockStatus::Pending);
}

/// The README's permission table, as the code has it.
fn matrix_markdown() -> String {
    let mut out = String::from("| Permission |");
    for r in Role::ALL {
        out.push_str(&format!(" {} |", r.title()));
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| `{}` |", p.as_str()));
        for r in Role::ALL {
            out.push_str(if r.can(p) { " ✓ |" } else { "   |" });
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_readme_matrix_is_the_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("<!-- permissions:start -->\n")
        .expect("README marks the permission table");
    let end = readme.find("<!-- permissions:end -->").unwrap();
    let table = &readme[start + "<!-- permissions:start -->\n".len()..end];
    let expected = matrix_markdown();
    assert_eq!(
        table, expected,
        "README.md's permission table should be:\n{expected}"
    );
}

#[test]
fn the_openapi_description_lists_every_api_route() {
    let spec: serde_json::Value = serde_json::from_str(tutela_console::api::OPENAPI).unwrap();
    let mut described: Vec<(String, String)> = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            described.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut tested: Vec<(String, String)> = PAGES
        .iter()
        .filter(|e| e.path.starts_with("/api/"))
        .map(|e| {
            (
                e.method.to_string(),
                e.path.split('?').next().unwrap().replace("{user}", "{id}"),
            )
        })
        .collect();
    tested.push(("GET".into(), "/api/v1/me".into()));
    tested.push(("GET".into(), "/api/openapi.json".into()));
    described.sort();
    tested.sort();
    assert_eq!(described, tested);
}
