//! The console's flows against a running console: first run, sign-in
//! back-off, the unblock lifecycle, and hostile text shown everywhere.

mod support;

use std::sync::atomic::Ordering;

use support::{code_now, field, Harness};
use tutela_console::Role;
use tutela_store::unblock::{self, UnblockStatus};
use tutela_store::{AccessEvent, EventRef, Protocol};

const XSS: &str = "<script>alert(1)</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_makes_one_administrator_then_needs_a_second_factor() {
    let h = Harness::start().await;
    let mut c = h.client();
    // With no administrator every road leads to set-up.
    let r = c.get("/").await;
    assert_eq!(r.location(), "/login?next=%2F");
    assert_eq!(c.get("/login").await.location(), "/setup");
    let page = c.get("/setup").await;
    let pre = field(&page.body, "pre").unwrap();
    // A short password is refused and nothing is made.
    let r = c
        .post_raw(
            "/setup",
            &[
                ("pre", &pre),
                ("username", "head"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("at least 12"), "{}", r.body);
    // Without the browser's own token it is refused too.
    let r = c
        .post_raw(
            "/setup",
            &[
                ("pre", "forged-forged-forged-forged-forged"),
                ("username", "head"),
                ("password", "a long enough password"),
                ("confirm", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let pw = "a long enough password";
    let r = c
        .post_raw(
            "/setup",
            &[
                ("pre", &pre),
                ("username", "head"),
                ("display_name", "Head of IT"),
                ("password", pw),
                ("confirm", pw),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/account/second-factor");
    let set_cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    // Until the second factor is set up, nothing else opens.
    assert!(c
        .get("/logs")
        .await
        .location()
        .starts_with("/account/second-factor"));
    assert_eq!(c.get("/api/v1/me").await.status, 401);
    let page = c.get("/account/second-factor").await;
    assert!(page.body.contains("<svg"), "a QR code");
    let secret = field(&page.body, "secret").unwrap();
    c.csrf = field(&page.body, "csrf").unwrap();
    let r = c
        .post_form(
            "/account/second-factor",
            &[("secret", &secret), ("code", "000000"), ("next", "/")],
        )
        .await;
    assert_eq!(r.status, 400, "a wrong code");
    let r = c
        .post_form(
            "/account/second-factor",
            &[
                ("secret", &secret),
                ("code", &code_now(&secret)),
                ("next", "/logs"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location().as_str()), (303, "/logs"));
    assert_eq!(c.get("/logs").await.status, 200);
    // Set-up is closed now, for everyone.
    let mut other = h.client();
    assert_eq!(other.get("/setup").await.location(), "/login");
    let page = other.get("/login").await;
    let pre = field(&page.body, "pre").unwrap();
    let r = other
        .post_raw(
            "/setup",
            &[
                ("pre", &pre),
                ("username", "intruder"),
                ("password", pw),
                ("confirm", pw),
            ],
        )
        .await;
    assert_eq!(r.location(), "/login");
    let mut db = h.db();
    assert!(tutela_store::people::user_named(db.as_mut(), "intruder")
        .unwrap()
        .is_none());
    assert_eq!(
        tutela_store::people::count_console_role(db.as_mut(), "administrator").unwrap(),
        1
    );
    let audit = db.audit_log(10).unwrap();
    assert!(audit.iter().any(|e| e.action == "console.setup"));
    assert!(audit.iter().any(|e| e.action == "account.second_factor"));
    // The password is in no audit entry.
    assert!(audit.iter().all(|e| !format!("{e:?}").contains(pw)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_codes_slow_sign_in_down() {
    let h = Harness::start().await;
    h.account("root", Role::Administrator);
    let dsl = h.account("dsl", Role::Dsl);
    let mut c = h.client();
    for _ in 0..5 {
        assert_eq!(c.sign_in_with("dsl", "wrong password!").await.status, 401);
    }
    // Now even the right password waits.
    let r = c.sign_in(&dsl).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("try again in"));
    // An unknown user gets the same answer as a wrong password.
    let mut other = h.client();
    let r = other.sign_in_with("nobody", "whatever password").await;
    assert!(r.status == 401 || r.status == 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safeguarding_roles_need_their_code_and_a_code_works_once() {
    let h = Harness::start().await;
    h.account("root", Role::Administrator);
    // An Online Safety Lead cannot skip the code: the session is half open.
    let osl = h.account("osl", Role::OnlineSafetyLead);
    let mut c = h.client();
    let r = c.sign_in(&osl).await;
    assert!(
        r.location().starts_with("/login/second-factor"),
        "{}",
        r.location()
    );
    assert!(c
        .get("/")
        .await
        .location()
        .starts_with("/login/second-factor"));
    let page = c.get("/login/second-factor").await;
    c.csrf = field(&page.body, "csrf").unwrap();
    let r = c
        .post_form("/login/second-factor", &[("code", "123456")])
        .await;
    assert_eq!(r.status, 401);
    let code = code_now(&osl.secret);
    let r = c
        .post_form("/login/second-factor", &[("code", &code)])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/").await.status, 200);
    // The same code never works twice.
    let mut again = h.client();
    again.sign_in(&osl).await;
    let page = again.get("/login/second-factor").await;
    again.csrf = field(&page.body, "csrf").unwrap();
    assert_eq!(
        again
            .post_form("/login/second-factor", &[("code", &code)])
            .await
            .status,
        401
    );
    // Signing out ends the session on the server.
    let r = c.post_form("/logout", &[]).await;
    assert_eq!(r.location(), "/login");
    assert_eq!(c.get("/").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unblock_is_requested_approved_and_reverted() {
    let h = Harness::start().await;
    h.account("root", Role::Administrator);
    let staff = h.signed_in(&h.account("teacher", Role::Staff)).await;
    let mut staff = staff;
    let mut osl = h.signed_in(&h.account("osl", Role::OnlineSafetyLead)).await;
    // The block page's link lands on the form, filled in.
    let r = staff
        .get("/review?url=https%3A%2F%2Fblocked.example%2Fhistory&ref=T-123&user=pupil7")
        .await;
    let to = r.location();
    assert!(to.starts_with("/unblocks/new?"), "{to}");
    let form = staff.get(&to).await;
    assert!(form
        .body
        .contains("value=\"https://blocked.example/history\""));
    assert!(form.body.contains("T-123") && form.body.contains("pupil7"));
    // The illegal tier cannot be asked for.
    let far = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let r = staff
        .post_form(
            "/unblocks",
            &[
                ("staff_name", "Ms Jones"),
                ("url", "http://illegal.example/"),
                ("reason", "x"),
                ("revert_at", &far),
                ("audience", "Y9"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("illegal-content list"));
    // A reversion date in the past is refused.
    let r = staff
        .post_form(
            "/unblocks",
            &[
                ("staff_name", "Ms Jones"),
                ("url", "https://blocked.example/"),
                ("reason", "x"),
                ("revert_at", "2020-01-01"),
                ("audience", "Y9"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3)).to_string();
    let r = staff
        .post_form(
            "/unblocks",
            &[
                ("staff_name", "Ms Jones"),
                ("url", "https://blocked.example/history"),
                ("reason", "Year 9 history"),
                ("revert_at", &soon),
                ("audience", "Year 9"),
                ("group", "pupils"),
                ("event_ref", "T-123"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut db = h.db();
    let list = unblock::list(db.as_mut(), &Default::default()).unwrap();
    let u = &list[0];
    assert_eq!(
        (u.status, u.request.site.as_str(), u.requested_by.as_str()),
        (UnblockStatus::Pending, "blocked.example", "teacher")
    );
    // Staff cannot approve; the Online Safety Lead can.
    let path = format!("/unblocks/{}/decide", u.id);
    assert_eq!(
        staff
            .post_form(&path, &[("decision", "approve")])
            .await
            .status,
        403
    );
    let before = h.reloads.load(Ordering::SeqCst);
    let r = osl
        .post_form(
            &path,
            &[("decision", "approve"), ("note", "fine for the lesson")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        h.reloads.load(Ordering::SeqCst),
        before + 1,
        "approval rebuilds the policy"
    );
    assert_eq!(
        unblock::in_force(db.as_mut(), jiff::Timestamp::now().as_microsecond())
            .unwrap()
            .len(),
        1
    );
    // Deciding twice is refused.
    assert_eq!(
        osl.post_form(&path, &[("decision", "refuse")]).await.status,
        400
    );
    // The change-control log shows it and exports every field the policy asks for.
    let csv = osl.get("/unblocks.csv").await;
    assert!(csv.body.starts_with(
        "id,status,staff_member,date,url,site,reason,year_groups_or_staff,group,reversion_date"
    ));
    assert!(
        csv.body.contains("Ms Jones")
            && csv.body.contains("osl")
            && csv.body.contains("Year 9 history")
    );
    // An abandoned session from long ago is cleared out by the same
    // housekeeping.
    tutela_store::people::add_session(
        db.as_mut(),
        "stale-session-hash",
        &tutela_store::people::Session {
            user_id: 1,
            csrf_token: "x".into(),
            second_factor_done: true,
            created_us: 1,
            seen_us: 1,
        },
    )
    .unwrap();
    // At the reversion date it ends by itself.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(h.console.housekeeping().await.unwrap(), 1);
    assert!(
        tutela_store::people::session(db.as_mut(), "stale-session-hash")
            .unwrap()
            .is_none()
    );
    assert_eq!(h.reloads.load(Ordering::SeqCst), before + 2);
    let u = unblock::get(db.as_mut(), u.id).unwrap().unwrap();
    assert_eq!(u.status, UnblockStatus::Reverted);
    let audit = db.audit_log(20).unwrap();
    for action in ["unblock.request", "unblock.approved", "unblock.revert"] {
        assert!(audit.iter().any(|e| e.action == action), "{action} audited");
    }
    let page = osl.get("/unblocks?status=reverted").await;
    assert!(page.body.contains("reverted"));
}

fn hostile_event(n: i64) -> AccessEvent {
    AccessEvent {
        reference: EventRef(1_000 + n),
        time_us: jiff::Timestamp::now().as_microsecond() - n * 1_000_000,
        site: Some(format!("site{XSS}")),
        device: Some(format!("dev{XSS}")),
        client_ip: "10.0.0.9".into(),
        user: Some(format!("pupil{XSS}")),
        group: Some(format!("grp{XSS}")),
        protocol: Protocol::Http,
        host: format!("evil.example{XSS}").into_bytes(),
        url: Some(format!("http://evil.example/\"><img src=x onerror=alert(2)>{XSS}").into_bytes()),
        search: Some(format!("=HYPERLINK(\"http://x\"){XSS}")),
        action: "block".into(),
        categories: vec![format!("cat{XSS}")],
        rule: format!("rule{XSS}"),
        count: 1,
        page_view: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_escaped_on_every_page_that_shows_it() {
    let h = Harness::start().await;
    let mut admin = h.signed_in(&h.account("admin", Role::Administrator)).await;
    h.db()
        .insert_events(&[hostile_event(1), hostile_event(2)])
        .unwrap();
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let r = admin
        .post_json(
            "/api/v1/unblocks",
            &serde_json::json!({"staff_name": format!("Mr {XSS}"), "url": format!("https://blocked.example/{XSS}"),
                "reason": format!("because {XSS}"), "revert_at": tomorrow, "audience": format!("Y9 {XSS}"), "event_ref": XSS}),
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post_json("/api/v1/users", &serde_json::json!({"username": "imported", "display_name": format!("Name {XSS}"), "kind": "pupil", "year_group": XSS}), true)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let user = format!("pupil{XSS}");
    let pages = [
        "/".to_string(),
        "/logs".into(),
        format!("/logs?user={}", q(&user)),
        format!("/logs?search={}", q(XSS)),
        format!("/timeline?user={}", q(&user)),
        format!("/check?url={}", q(&format!("http://blocked.example/{XSS}"))),
        "/unblocks".into(),
        format!(
            "/unblocks/new?url={}&ref={}&user={}",
            q(XSS),
            q(XSS),
            q(XSS)
        ),
        "/audit".into(),
        "/users".into(),
        "/devices/setup".into(),
    ];
    let mut shown = 0;
    for path in &pages {
        let r = admin.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.body.contains("<script"), "{path} has a raw script tag");
        assert!(!r.body.contains("<img"), "{path} has a raw img tag");
        if r.body.contains("&lt;script&gt;") {
            shown += 1;
        }
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
    }
    assert!(
        shown >= 9,
        "the hostile text shows (escaped) on {shown} pages"
    );
    // The JSON API returns it as data, not markup.
    let r = admin.get("/api/v1/logs").await;
    assert_eq!(r.headers["content-type"], "application/json");
    // CSV exports neutralise formulas.
    let csv = admin.get("/logs.csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.contains("'=HYPERLINK"), "{}", csv.body);
    assert!(!csv.body.contains(",=HYPERLINK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_with_errors_imports_nothing_until_the_valid_rows_are_confirmed() {
    let h = Harness::start().await;
    let mut admin = h.signed_in(&h.account("admin", Role::Administrator)).await;
    let csv = format!(
        "UPN,Legal Forename,Legal Surname,Year\nA1,Ada,Lovelace,Year 7\nbad upn,Bob,X,Year 7\nA3,{XSS},Y,Year 8\nA4,Cut\n"
    );
    let r = admin
        .post_multipart("/users/import", &[("default_kind", "pupil")], &csv)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("2 rows have errors"), "{}", r.body);
    assert!(
        !r.body.contains("<script"),
        "names are escaped in the preview"
    );
    let data = field(&r.body, "data").unwrap();
    let users = |h: &Harness| tutela_store::people::users(h.db().as_mut()).unwrap();
    let before = users(&h).len();
    // Without confirming, nothing goes in.
    let r = admin
        .post_form(
            "/users/import/confirm",
            &[("data", &data), ("default_kind", "pupil")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(users(&h).len(), before);
    let r = admin
        .post_form(
            "/users/import/confirm",
            &[
                ("data", &data),
                ("default_kind", "pupil"),
                ("confirm_partial", "yes"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location().as_str()),
        (303, "/users?imported=2")
    );
    let after = users(&h);
    assert_eq!(after.len(), before + 2);
    let a3 = after.iter().find(|u| u.username == "a3").unwrap();
    assert_eq!(
        a3.display_name.as_deref(),
        Some(format!("{XSS} Y").as_str())
    );
    assert_eq!(a3.year_group.as_deref(), Some("Year 8"));
    // The same file again: every row now exists, so nothing is imported.
    let r = admin
        .post_json(
            "/api/v1/users/import",
            &serde_json::json!({"csv": csv, "confirm_partial": true}),
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["imported"], 0);
    assert_eq!(v["errors"].as_array().unwrap().len(), 4);
    let page = admin.get("/users").await;
    assert!(!page.body.contains("<script"));
    assert!(h
        .db()
        .audit_log(5)
        .unwrap()
        .iter()
        .any(|e| e.action == "users.import"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnets_and_devices_are_checked_stored_audited_and_reload_the_policy() {
    let h = Harness::start().await;
    let mut admin = h.signed_in(&h.account("admin", Role::Administrator)).await;
    let reloads = h.reloads.load(Ordering::SeqCst);
    for (subnet, group) in [("not a subnet", "pupils"), ("10.0.0.0/8", "no-such-group")] {
        let r = admin
            .post_form("/network/subnets", &[("subnet", subnet), ("group", group)])
            .await;
        assert_eq!(r.status, 400, "{subnet} {group}");
    }
    // A host address inside a subnet is stored as the subnet.
    let r = admin
        .post_form(
            "/network/subnets",
            &[
                ("subnet", "10.0.7.99/24"),
                ("group", "pupils"),
                ("site", "North"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let rows = tutela_store::identities::subnets(h.db().as_mut()).unwrap();
    assert_eq!(
        (
            rows[0].subnet.as_str(),
            rows[0].group.as_str(),
            rows[0].site.as_deref()
        ),
        ("10.0.7.0/24", "pupils", Some("North"))
    );
    let r = admin
        .post_form(
            "/network/devices",
            &[("name", &format!("Laptop {XSS}")), ("owner", "nobody")],
        )
        .await;
    assert_eq!(r.status, 400, "an unknown owner");
    let r = admin
        .post_form(
            "/network/devices",
            &[("name", &format!("Laptop {XSS}")), ("owner", "admin")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.location();
    assert!(to.contains("token="), "{to}");
    let page = admin.get(&to).await;
    assert!(
        page.body.contains("/dns-query/") && !page.body.contains("<script"),
        "{}",
        page.body
    );
    let devices = tutela_store::identities::devices(h.db().as_mut()).unwrap();
    let token = devices[0].doh_token.clone().unwrap();
    assert!(tutela_policy::DeviceConfig::token_is_valid(&token));
    assert_eq!(
        h.reloads.load(Ordering::SeqCst),
        reloads + 2,
        "each change rebuilds the policy"
    );
    // A DSL sees devices but not their tokens.
    let mut dsl = h.signed_in(&h.account("dsl", Role::Dsl)).await;
    let r = dsl.get("/api/v1/network").await;
    assert!(
        r.body.contains("Laptop") && !r.body.contains(&token),
        "{}",
        r.body
    );
    // The audit log has the changes, never the token.
    let audit = h.db().audit_log(10).unwrap();
    assert!(audit.iter().any(|e| e.action == "subnet.add"));
    assert!(audit.iter().any(|e| e.action == "device.add"));
    assert!(audit.iter().all(|e| !format!("{e:?}").contains(&token)));
    let id = rows[0].id;
    assert_eq!(
        admin
            .post_form(&format!("/network/subnets/{id}/remove"), &[])
            .await
            .status,
        303
    );
    assert!(tutela_store::identities::subnets(h.db().as_mut())
        .unwrap()
        .is_empty());
    assert_eq!(
        admin
            .post_form(&format!("/network/subnets/{id}/remove"), &[])
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_a_temporary_id_and_password_shown_once() {
    let h = Harness::start().await;
    let mut admin = h.signed_in(&h.account("admin", Role::Administrator)).await;
    let r = admin
        .post_form(
            "/users",
            &[("kind", "guest"), ("display_name", "Trainee teacher")],
        )
        .await;
    assert_eq!(r.status, 400, "a guest needs an expiry date");
    let r = admin
        .post_form(
            "/users",
            &[
                ("kind", "guest"),
                ("display_name", "Trainee teacher"),
                ("expires", "2099-07-20"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grab = |id: &str| {
        let marker = format!("id=\"{id}\">");
        let start = r.body.find(&marker).unwrap() + marker.len();
        r.body[start..start + r.body[start..].find('<').unwrap()].to_string()
    };
    let (username, password) = (grab("guest-username"), grab("guest-password"));
    assert!(
        username.starts_with("guest-") && password.len() == 14,
        "{username} {password}"
    );
    let user = tutela_store::people::user_named(h.db().as_mut(), &username)
        .unwrap()
        .unwrap();
    assert!(tutela_store::people::verify_password(
        &password,
        user.password_hash.as_deref().unwrap()
    ));
    assert!(user.expires_us.is_some());
    // The password is in neither the audit log nor the users page.
    assert!(h
        .db()
        .audit_log(5)
        .unwrap()
        .iter()
        .all(|e| !format!("{e:?}").contains(&password)));
    assert!(!admin.get("/users").await.body.contains(&password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_created_and_its_policy_checked_before_it_is_saved() {
    let h = Harness::start().await;
    h.account("root", Role::Administrator);
    let mut osl = h.signed_in(&h.account("osl", Role::OnlineSafetyLead)).await;
    let reloads = h.reloads.load(Ordering::SeqCst);
    let r = osl
        .post_form("/policies", &[("name", "Year 7!"), ("copy_from", "pupils")])
        .await;
    assert_eq!(r.status, 400, "a bad name");
    let r = osl
        .post_form("/policies", &[("name", "year7"), ("copy_from", "pupils")])
        .await;
    assert_eq!((r.status, r.location().as_str()), (303, "/policies/year7"));
    let page = osl.get("/policies/year7").await;
    assert!(
        page.body.contains("name=\"block:adult\""),
        "categories are listed"
    );
    // A bad site is refused and nothing changes.
    let r = osl
        .post_form(
            "/policies/year7",
            &[("role", "pupil"), ("block_sites", "exa mple.com")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Allowing the illegal tier is impossible.
    let r = osl
        .post_form(
            "/policies/year7",
            &[("role", "pupil"), ("allow:child_abuse", "on")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("illegal"), "{}", r.body);
    let r = osl
        .post_form(
            "/policies/year7",
            &[
                ("role", "pupil"),
                ("safesearch", "strict"),
                ("tls_inspection", "on"),
                ("block:adult", "on"),
                ("allow_sites", "Museum.example\nexample.org/history"),
                ("block_sites", format!("game.example/{XSS}").as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = tutela_store::policies::list(h.db().as_mut()).unwrap();
    let g = stored
        .iter()
        .find(|g| g.name == "year7")
        .unwrap()
        .config
        .clone()
        .unwrap();
    assert!(g.tls_inspection && g.block_categories == vec!["adult".to_string()]);
    assert_eq!(g.allow_sites, vec!["museum.example", "example.org/history"]);
    assert_eq!(
        h.reloads.load(Ordering::SeqCst),
        reloads + 2,
        "create and save each rebuild the policy"
    );
    let audit = h.db().audit_log(10).unwrap();
    let update = audit
        .iter()
        .find(|e| e.action == "policy.update")
        .expect("audited");
    assert!(update.before.is_some() && update.after.as_deref().unwrap().contains("museum.example"));
    // A lunchtime window; a bad time is refused by the trial build.
    let r = osl
        .post_form(
            "/policies/year7",
            &[
                ("role", "pupil"),
                ("schedule.0.days", "weekdays"),
                ("schedule.0.from", "25:00"),
                ("schedule.0.to", "13:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = osl
        .post_form(
            "/policies/year7",
            &[
                ("role", "pupil"),
                ("block:adult", "on"),
                ("schedule.0.days", "weekdays"),
                ("schedule.0.from", "12:00"),
                ("schedule.0.to", "13:00"),
                ("schedule.0.allow_sites", "games.example, Puzzles.example"),
                ("schedule.1.days", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = tutela_store::policies::list(h.db().as_mut()).unwrap();
    let g = stored
        .iter()
        .find(|g| g.name == "year7")
        .unwrap()
        .config
        .clone()
        .unwrap();
    assert_eq!(g.schedule.len(), 1);
    assert_eq!(
        g.schedule[0].allow_sites,
        vec!["games.example", "puzzles.example"]
    );
    assert_eq!(
        (g.schedule[0].from.as_str(), g.schedule[0].to.as_str()),
        ("12:00", "13:00")
    );
    // The page shows it, escaped; the illegal tier is listed read-only.
    let page = osl.get("/policies/year7").await;
    assert!(!page.body.contains("<script"));
    let list = osl.get("/policies").await;
    assert!(
        list.body.contains("year7")
            && list.body.contains("Illegal-content tier")
            && list.body.contains("child_abuse")
    );
    // A DSL may look but not change.
    let mut dsl = h.signed_in(&h.account("dsl", Role::Dsl)).await;
    assert_eq!(dsl.get("/policies/year7").await.status, 200);
    assert_eq!(
        dsl.post_form("/policies/year7", &[("role", "staff")])
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_is_signed_out_at_once_and_a_lost_authenticator_is_reset() {
    let h = Harness::start().await;
    let mut admin = h.signed_in(&h.account("admin", Role::Administrator)).await;
    let dsl_account = h.account("dsl", Role::Dsl);
    let mut dsl = h.signed_in(&dsl_account).await;
    assert_eq!(dsl.get("/logs").await.status, 200);
    let id = tutela_store::people::user_named(h.db().as_mut(), "dsl")
        .unwrap()
        .unwrap()
        .id;
    let me = tutela_store::people::user_named(h.db().as_mut(), "admin")
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        admin
            .post_form(&format!("/users/{me}/change"), &[("change", "disable")])
            .await
            .status,
        400,
        "not yourself"
    );
    assert_eq!(
        admin
            .post_form(&format!("/users/{id}/change"), &[("change", "disable")])
            .await
            .status,
        303
    );
    assert_eq!(dsl.get("/logs").await.status, 303, "the session ended");
    let mut again = h.client();
    assert_eq!(
        again.sign_in(&dsl_account).await.status,
        401,
        "and sign-in is refused"
    );
    assert_eq!(
        admin
            .post_form(&format!("/users/{id}/change"), &[("change", "enable")])
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post_form(
                &format!("/users/{id}/change"),
                &[("change", "reset_second_factor")]
            )
            .await
            .status,
        303
    );
    let mut c = h.client();
    // Back-off from the refused sign-in above is per account: wait it out.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = c.sign_in(&dsl_account).await;
    assert!(
        r.location().starts_with("/account/second-factor"),
        "enrols again: {} {}",
        r.status,
        r.location()
    );
    let audit = h.db().audit_log(10).unwrap();
    for action in ["user.disable", "user.enable", "user.reset_second_factor"] {
        assert!(audit.iter().any(|e| e.action == action), "{action}");
    }
}
