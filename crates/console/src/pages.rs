//! The console's HTML pages. Each handler checks its permission first;
//! every form checks its CSRF token before anything else.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use tutela_store::people::{self, Session};
use tutela_store::unblock::{UnblockFilter, UnblockStatus};
use tutela_store::{AccessEvent, AuditEntry, EventQuery};

use crate::actions::{self, Decision, LogSearch, UnblockInput, UserInput};
use crate::auth::{self, now_us, HalfSigned, Signed};
use crate::roles::{Permission, Role};
use crate::views::{self, bare_page, csrf_field, page, query_escape, redirect, when};
use crate::{Console, ConsoleError};

type St = State<Arc<Console>>;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
type PageResult = Result<Response, ConsoleError>;

// ---- signing in ----------------------------------------------------------

/// The token tying a signed-out form to this browser: its cookie, made if
/// missing.
fn pre_token(headers: &HeaderMap) -> (String, Option<String>) {
    match auth::cookie(headers, auth::PRE_COOKIE) {
        Some(t) if t.len() >= 32 => (t.to_string(), None),
        _ => {
            let t = auth::random_token();
            (t.clone(), Some(t))
        }
    }
}

fn check_pre(headers: &HeaderMap, field: &str) -> Result<(), ConsoleError> {
    match auth::cookie(headers, auth::PRE_COOKIE) {
        Some(c) if auth::same_secret(c, field) => Ok(()),
        _ => Err(ConsoleError::BadCsrf),
    }
}

fn with_pre_cookie(console: &Console, mut response: Response, set: Option<String>) -> Response {
    if let Some(t) = set {
        let c = auth::set_cookie(
            auth::PRE_COOKIE,
            &t,
            std::time::Duration::from_secs(3600),
            console.options.secure_cookies,
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn administrators(console: &Console) -> Result<i64, ConsoleError> {
    console
        .db(|db| people::count_console_role(db, Role::Administrator.as_str()))
        .await
}

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

fn setup_page(pre: &str, error: Option<&str>, username: &str, display_name: &str) -> Markup {
    html! {
        h1 { "Set up Tutela" }
        p { "Create the first administrator. There is no default password: this account is the only way in until you add others." }
        @if let Some(e) = error { p.error { (e) } }
        form method="post" action="/setup" {
            input type="hidden" name="pre" value=(pre);
            label for="username" { "Username" }
            input #username name="username" required autocomplete="username" value=(username);
            label for="display_name" { "Your name" }
            input #display_name name="display_name" value=(display_name);
            label for="password" { "Password (at least " (actions::MIN_PASSWORD) " characters)" }
            input #password name="password" type="password" required autocomplete="new-password" minlength=(actions::MIN_PASSWORD);
            label for="confirm" { "Password again" }
            input #confirm name="confirm" type="password" required autocomplete="new-password";
            p.muted { "Next you will set up a two-factor code on your phone (any authenticator app)." }
            button type="submit" { "Create administrator" }
        }
    }
}

pub async fn setup_form(State(console): St, headers: HeaderMap) -> PageResult {
    if administrators(&console).await? > 0 {
        return Ok(redirect("/login"));
    }
    let (pre, set) = pre_token(&headers);
    let r = bare_page("Set up", setup_page(&pre, None, "", "")).into_response();
    Ok(with_pre_cookie(&console, r, set))
}

#[derive(Deserialize)]
pub struct SetupForm {
    pre: String,
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    confirm: String,
}

pub async fn setup(
    State(console): St,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> PageResult {
    check_pre(&headers, &form.pre)?;
    let again = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            bare_page(
                "Set up",
                setup_page(
                    &form.pre,
                    Some(&message),
                    &form.username,
                    &form.display_name,
                ),
            ),
        )
            .into_response()
    };
    let username = form.username.trim().to_string();
    if let Err(e) = actions::check_username(&username).and(actions::check_password(&form.password))
    {
        return Ok(again(e.to_string()));
    }
    if form.password != form.confirm {
        return Ok(again("the two passwords differ".into()));
    }
    let hash = actions::hash(form.password.clone()).await?;
    let display_name = Some(form.display_name.trim().to_string()).filter(|s| !s.is_empty());
    let token = auth::random_token();
    let token_hash = auth::token_hash(&token);
    let now = now_us();
    let created = console
        .db(move |db| {
            // Checked again under the store's lock: two set-ups at once make
            // one administrator.
            if people::count_console_role(db, Role::Administrator.as_str())? > 0 {
                return Ok(false);
            }
            let id = people::add_user(
                db,
                &people::NewUser {
                    username: username.clone(),
                    display_name,
                    kind: "staff".into(),
                    console_role: Some(Role::Administrator.as_str().into()),
                    password_hash: Some(hash),
                    ..Default::default()
                },
                now,
            )?;
            db.append_audit(&AuditEntry {
                time_us: now,
                actor: username.clone(),
                action: "console.setup".into(),
                object: format!("user:{username}"),
                before: None,
                after: Some("administrator".into()),
                reason: Some("first administrator, made at first run".into()),
            })?;
            people::add_session(
                db,
                &token_hash,
                &Session {
                    user_id: id,
                    csrf_token: auth::random_token(),
                    second_factor_done: false,
                    created_us: now,
                    seen_us: now,
                },
            )?;
            Ok(true)
        })
        .await?;
    if !created {
        return Ok(redirect("/login"));
    }
    Ok(with_session(
        &console,
        redirect("/account/second-factor"),
        &token,
    ))
}

fn with_session(console: &Console, mut response: Response, token: &str) -> Response {
    let c = auth::set_cookie(
        auth::SESSION_COOKIE,
        token,
        auth::ABSOLUTE,
        console.options.secure_cookies,
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn login_page(pre: &str, next: &str, error: Option<&str>, username: &str) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="pre" value=(pre);
            input type="hidden" name="next" value=(next);
            label for="username" { "Username" }
            input #username name="username" required autocomplete="username" value=(username);
            label for="password" { "Password" }
            input #password name="password" type="password" required autocomplete="current-password";
            button type="submit" { "Sign in" }
        }
    }
}

pub async fn login_form(
    State(console): St,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> PageResult {
    if administrators(&console).await? == 0 {
        return Ok(redirect("/setup"));
    }
    let (pre, set) = pre_token(&headers);
    let next = views::safe_next(q.next.as_deref());
    let r = bare_page("Sign in", login_page(&pre, &next, None, "")).into_response();
    Ok(with_pre_cookie(&console, r, set))
}

#[derive(Deserialize)]
pub struct LoginForm {
    pre: String,
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(console): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    check_pre(&headers, &form.pre)?;
    let ip = peer.ip();
    let next = views::safe_next(form.next.as_deref());
    let username = form.username.trim().to_string();
    let refuse = |message: String, status: StatusCode| {
        (
            status,
            bare_page(
                "Sign in",
                login_page(&form.pre, &next, Some(&message), &username),
            ),
        )
            .into_response()
    };
    if let Err(e) = console.sign_in.check(&username, ip) {
        return Ok(refuse(e.to_string(), StatusCode::TOO_MANY_REQUESTS));
    }
    let user = {
        let username = username.clone();
        console
            .db(move |db| people::user_named(db, &username))
            .await?
    };
    let now = now_us();
    let candidate = user.filter(|u| u.is_active(now) && u.console_role.is_some());
    // The same work whether or not the user exists.
    let hash = candidate
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(people::dummy_hash);
    let password = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || people::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = candidate.filter(|_| matches) else {
        console.sign_in.failed(&username, ip);
        return Ok(refuse(
            "Wrong username or password.".into(),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let Some(role) = user.console_role.as_deref().and_then(Role::parse) else {
        return Ok(refuse(
            "This account has no console role.".into(),
            StatusCode::FORBIDDEN,
        ));
    };
    console.sign_in.succeeded(&username, ip);
    let second_factor_done = !(user.has_second_factor() || role.needs_second_factor());
    let token = auth::random_token();
    let token_hash = auth::token_hash(&token);
    let old = auth::cookie(&headers, auth::SESSION_COOKIE).map(auth::token_hash);
    let user_id = user.id;
    let actor = user.username.clone();
    console
        .db(move |db| {
            if let Some(old) = old {
                people::end_session(db, &old)?;
            }
            people::add_session(
                db,
                &token_hash,
                &Session {
                    user_id,
                    csrf_token: auth::random_token(),
                    second_factor_done,
                    created_us: now,
                    seen_us: now,
                },
            )?;
            db.append_audit(&AuditEntry {
                time_us: now,
                actor: actor.clone(),
                action: "console.sign_in".into(),
                object: format!("user:{actor}"),
                before: None,
                after: None,
                reason: Some(format!("from {ip}")),
            })?;
            Ok(())
        })
        .await?;
    let to = if second_factor_done {
        next
    } else if user.has_second_factor() {
        format!("/login/second-factor?next={}", query_escape(&next))
    } else {
        format!("/account/second-factor?next={}", query_escape(&next))
    };
    Ok(with_session(&console, redirect(&to), &token))
}

fn code_page(who: &HalfSigned, next: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Two-factor code" }
        p { "Enter the 6-digit code from your authenticator app for " strong { (who.user.username) } "." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login/second-factor" {
            (csrf_field(who))
            input type="hidden" name="next" value=(next);
            label for="code" { "Code" }
            input #code name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required;
            button type="submit" { "Continue" }
        }
    }
}

pub async fn second_factor_form(who: HalfSigned, Query(q): Query<Next>) -> PageResult {
    let next = views::safe_next(q.next.as_deref());
    if who.complete() {
        return Ok(redirect(&next));
    }
    if !who.user.has_second_factor() {
        return Ok(redirect(&format!(
            "/account/second-factor?next={}",
            query_escape(&next)
        )));
    }
    Ok(bare_page("Two-factor code", code_page(&who, &next, None)).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn second_factor(
    State(console): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: HalfSigned,
    Form(form): Form<CodeForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    let next = views::safe_next(form.next.as_deref());
    let Some(secret) = who.user.totp_secret.clone() else {
        return Ok(redirect(&format!(
            "/account/second-factor?next={}",
            query_escape(&next)
        )));
    };
    let page = |status: StatusCode, message: &str| {
        (
            status,
            bare_page("Two-factor code", code_page(&who, &next, Some(message))),
        )
            .into_response()
    };
    let user = &who.user;
    match console
        .sign_in
        .try_code(&user.username, user.id, peer.ip(), &secret, &form.code)
    {
        Ok(true) => {}
        Ok(false) => {
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                "That code is not right. Codes change every 30 seconds.",
            ))
        }
        Err(e) => return Ok(page(StatusCode::TOO_MANY_REQUESTS, &e.to_string())),
    }
    let hash = who.token_hash.clone();
    console
        .db(move |db| people::complete_second_factor(db, &hash))
        .await?;
    Ok(redirect(&next))
}

fn enrol_page(who: &HalfSigned, secret: &str, next: &str, error: Option<&str>) -> Markup {
    let url = auth::totp(secret, &who.user.username)
        .map(|t| t.get_url())
        .unwrap_or_default();
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(180, 180)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    html! {
        h1 { "Set up two-factor sign-in" }
        p { "Your role (" (who.role.title()) ") signs in with a code from an authenticator app as well as a password." }
        ol {
            li { "Open an authenticator app on your phone and add an account." }
            li { "Scan this code, or type the key below." }
            li { "Enter the 6-digit code the app shows." }
        }
        // Our own SVG: the QR modules, drawn by the qrcode crate.
        div.qr { (PreEscaped(qr)) }
        p { "Key: " span.secret #totp-secret { (secret) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/account/second-factor" {
            (csrf_field(who))
            input type="hidden" name="secret" value=(secret);
            input type="hidden" name="next" value=(next);
            label for="code" { "Code" }
            input #code name="code" inputmode="numeric" autocomplete="one-time-code" required;
            button type="submit" { "Turn on two-factor sign-in" }
        }
    }
}

pub async fn enrol_form(who: HalfSigned, Query(q): Query<Next>) -> PageResult {
    let next = views::safe_next(q.next.as_deref());
    if who.user.has_second_factor() {
        return Ok(redirect(if who.complete() {
            &next
        } else {
            "/login/second-factor"
        }));
    }
    let secret = auth::new_totp_secret();
    Ok(bare_page("Two-factor set-up", enrol_page(&who, &secret, &next, None)).into_response())
}

#[derive(Deserialize)]
pub struct EnrolForm {
    csrf: String,
    secret: String,
    code: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn enrol(
    State(console): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    who: HalfSigned,
    Form(form): Form<EnrolForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    let next = views::safe_next(form.next.as_deref());
    if who.user.has_second_factor() {
        return Err(ConsoleError::BadRequest(
            "two-factor sign-in is already set up for this account".into(),
        ));
    }
    let secret = form.secret.trim().to_string();
    let user = &who.user;
    // A secret too short for TOTP never verifies, and counts as a failure.
    if !console
        .sign_in
        .try_code(&user.username, user.id, peer.ip(), &secret, &form.code)?
    {
        return Ok((
            StatusCode::BAD_REQUEST,
            bare_page(
                "Two-factor set-up",
                enrol_page(&who, &secret, &next, Some("That code is not right: check the app shows this account, and try the newest code.")),
            ),
        )
            .into_response());
    }
    let (id, hash, actor) = (who.user.id, who.token_hash.clone(), who.actor());
    console
        .db(move |db| {
            people::set_totp_secret(db, id, &secret)?;
            people::complete_second_factor(db, &hash)?;
            db.append_audit(&AuditEntry {
                time_us: now_us(),
                actor: actor.clone(),
                action: "account.second_factor".into(),
                object: format!("user:{actor}"),
                before: None,
                after: Some("enrolled".into()),
                reason: None,
            })
        })
        .await?;
    Ok(redirect(&next))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn logout(State(console): St, who: HalfSigned, Form(form): Form<CsrfOnly>) -> PageResult {
    who.check_csrf(&form.csrf)?;
    let hash = who.token_hash.clone();
    console.db(move |db| people::end_session(db, &hash)).await?;
    let mut r = redirect("/login");
    let c = auth::set_cookie(
        auth::SESSION_COOKIE,
        "",
        std::time::Duration::ZERO,
        console.options.secure_cookies,
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

// ---- overview ------------------------------------------------------------

pub async fn dashboard(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewSummary)?;
    let tz = console.options.timezone.clone();
    let now = jiff::Timestamp::now();
    let today = now
        .to_zoned(tz.clone())
        .start_of_day()
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let since = today.timestamp().as_microsecond();
    let week = since - 6 * 86_400_000_000;
    let until = now.as_microsecond() + 1;
    let (day, seven, pending) = console
        .db(move |db| {
            let day = db.summary(since, until)?;
            let seven = db.summary(week, until)?;
            let pending = tutela_store::unblock::list(
                db,
                &UnblockFilter {
                    status: Some(UnblockStatus::Pending),
                    ..Default::default()
                },
            )?;
            Ok((day, seven, pending.len()))
        })
        .await?;
    let top: Vec<(String, u64)> = seven.blocked_by_category.iter().take(10).cloned().collect();
    let body = html! {
        div.cards {
            div.card { div.muted { "Requests today" } div.figure { (day.requests) } }
            div.card { div.muted { "Blocked today" } div.figure { (day.blocked) } }
            div.card { div.muted { "Pages visited today" } div.figure { (day.page_views) } }
            div.card { div.muted { "Blocked in the last 7 days" } div.figure { (seven.blocked) } }
            @if who.role.can(Permission::ViewChanges) {
                div.card {
                    div.muted { "Unblock requests waiting" }
                    div.figure { a href="/unblocks?status=pending" { (pending) } }
                }
            }
        }
        section.card {
            h2 { "Blocked in the last 7 days, by category" }
            @if top.is_empty() { p.muted { "Nothing blocked." } } @else { (views::bar_chart(&top, "blocked requests")) }
        }
        @if who.role.can(Permission::CheckUrl) {
            section.card {
                h2 { "Check a site" }
                form.actions method="get" action="/check" {
                    div style="flex:1" { label for="url" { "Address" } input #url name="url" placeholder="https://example.com/page"; }
                    button type="submit" { "Check" }
                }
            }
        }
    };
    Ok(page(&who, "Overview", body).into_response())
}

// ---- log search ----------------------------------------------------------

fn event_text(e: &AccessEvent) -> String {
    String::from_utf8_lossy(e.url.as_deref().unwrap_or(&e.host)).into_owned()
}

pub(crate) fn events_table(console: &Console, events: &[AccessEvent]) -> Markup {
    let tz = &console.options.timezone;
    html! {
        div.table-wrap {
            table {
                thead { tr {
                    th { "Time" } th { "User" } th { "Device / IP" } th { "Group" } th { "Site or URL" }
                    th { "Search" } th { "Action" } th { "Category" } th { "Rule" } th { "Ref" }
                } }
                tbody {
                    @for e in events {
                        tr {
                            td { (when(e.time_us, tz)) }
                            td {
                                @if let Some(u) = &e.user {
                                    a href={ "/timeline?user=" (query_escape(u)) } { (u) }
                                } @else { span.muted { "—" } }
                            }
                            td { @if let Some(d) = &e.device { (d) br; } span.muted { (e.client_ip) } }
                            td { (e.group.as_deref().unwrap_or("")) }
                            td.url { (event_text(e)) @if e.page_view { " " span.tag { "page" } } }
                            td { (e.search.as_deref().unwrap_or("")) }
                            td { span class={ "tag " (e.action) } { (e.action) } }
                            td { (e.categories.join(", ")) }
                            td { (e.rule) }
                            td { code { (e.reference.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

fn log_form(search: &LogSearch) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    html! {
           form.card method="get" action="/logs" {
               div.grid-form {
                   div { label for="user" { "User" } input #user name="user" value=(v(&search.user)); }
                   div { label for="device" { "Device" } input #device name="device" value=(v(&search.device)); }
                   div { label for="ip" { "IP address" } input #ip name="ip" value=(v(&search.ip)); }
                   div { label for="host" { "Website" } input #host name="host" value=(v(&search.host)) placeholder="example.com"; }
    div { label for="group" { "Group" } input #group name="group" value=(v(&search.group)); }
                   div { label for="school_site" { "School site" } input #school_site name="site" value=(v(&search.site)); }
                   div { label for="category" { "Category" } input #category name="category" value=(v(&search.category)); }
                   div {
                       label for="action" { "Action" }
                       select #action name="action" {
                           @for (value, label) in [("", "Any"), ("block", "Blocked"), ("allow", "Allowed"), ("safesearch", "Safe search")] {
                               option value=(value) selected[search.action.as_deref().unwrap_or("") == value] { (label) }
                           }
                       }
                   }
                   div { label for="search" { "Search term" } input #search name="search" value=(v(&search.search)); }
                   div { label for="since" { "From" } input #since name="since" value=(v(&search.since)) placeholder="2026-12-01"; }
                   div { label for="until" { "Until" } input #until name="until" value=(v(&search.until)) placeholder="2026-12-02T15:00"; }
               }
               button type="submit" { "Search" }
           }
       }
}

/// The query string of a search, for links to its next page and export.
fn search_query(search: &LogSearch) -> String {
    let pairs = [
        ("user", &search.user),
        ("ip", &search.ip),
        ("device", &search.device),
        ("site", &search.site),
        ("host", &search.host),
        ("group", &search.group),
        ("category", &search.category),
        ("action", &search.action),
        ("search", &search.search),
        ("since", &search.since),
        ("until", &search.until),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", query_escape(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn logs(State(console): St, who: Signed, Query(search): Query<LogSearch>) -> PageResult {
    who.require(Permission::SearchLogs)?;
    let (events, error) = match search.query(&console.options.timezone) {
        Ok(q) => (actions::search_logs(&console, q).await?, None),
        Err(ConsoleError::BadRequest(m)) => (Vec::new(), Some(m)),
        Err(e) => return Err(e),
    };
    let base = search_query(&search);
    let more = events.len() == search.limit.unwrap_or(100).clamp(1, 1000);
    let body = html! {
        (log_form(&search))
        @if let Some(e) = error { p.error { (e) } }
        p {
            (plural(events.len(), "event", "events")) ", newest first. "
            @if who.role.can(Permission::ExportLogs) {
                a href={ "/logs.csv?" (base) } { "Export as CSV" }
            }
        }
        (events_table(&console, &events))
        @if more {
            @if let Some(last) = events.last() {
                p.pager { a.button href={ "/logs?" (base) "&before=" (last.time_us) ":" (last.reference.0) } { "Older events" } }
            }
        }
    };
    Ok(page(&who, "Log search", body).into_response())
}

/// Rows a CSV export holds at most.
pub const EXPORT_ROWS: usize = 200_000;

pub async fn logs_csv(
    State(console): St,
    who: Signed,
    Query(search): Query<LogSearch>,
) -> PageResult {
    who.require(Permission::ExportLogs)?;
    let query = EventQuery {
        limit: 0,
        ..search.query(&console.options.timezone)?
    };
    let actor = who.actor();
    let described = search_query(&search);
    let csv = console
        .db(move |db| {
            let mut out = Vec::new();
            let mut first = true;
            let rows = db.for_each_page(&query, EXPORT_ROWS, &mut |page| {
                let mut chunk = Vec::new();
                tutela_store::write_csv(&mut chunk, page)
                    .map_err(|e| tutela_store::StoreError::Invalid(e.to_string()))?;
                // Each page's writer adds a header; keep only the first.
                let body = if first {
                    &chunk[..]
                } else {
                    chunk
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(&chunk[..0], |i| &chunk[i + 1..])
                };
                first = false;
                out.extend_from_slice(body);
                Ok(())
            })?;
            if first {
                tutela_store::write_csv(&mut out, &[])
                    .map_err(|e| tutela_store::StoreError::Invalid(e.to_string()))?;
            }
            db.append_audit(&AuditEntry {
                time_us: now_us(),
                actor,
                action: "log.export".into(),
                object: "access_log".into(),
                before: None,
                after: Some(format!("{rows} rows")),
                reason: Some(described),
            })?;
            Ok(out)
        })
        .await?;
    Ok(csv_response(csv, "tutela-log.csv"))
}

fn csv_response(body: Vec<u8>, name: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Deserialize)]
pub struct TimelineQuery {
    user: String,
    #[serde(default)]
    day: Option<String>,
}

pub async fn timeline(
    State(console): St,
    who: Signed,
    Query(q): Query<TimelineQuery>,
) -> PageResult {
    who.require(Permission::SearchLogs)?;
    let tz = console.options.timezone.clone();
    let day = match q.day.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => d
            .parse::<jiff::civil::Date>()
            .map_err(|_| ConsoleError::BadRequest("the day is YYYY-MM-DD".into()))?,
        None => jiff::Timestamp::now().to_zoned(tz.clone()).date(),
    };
    let start = day
        .to_zoned(tz.clone())
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let since = start.timestamp().as_microsecond();
    let until = since + 86_400_000_000;
    let query = EventQuery {
        user: Some(q.user.clone()),
        since_us: Some(since),
        until_us: Some(until),
        ..Default::default()
    };
    let events = console
        .db(move |db| {
            let mut out = Vec::new();
            db.for_each_page(&query, 5_000, &mut |page| {
                out.extend_from_slice(page);
                Ok(())
            })?;
            Ok(out)
        })
        .await?;
    let mut hours = vec![(0u64, 0u64); 24];
    for e in &events {
        let hour = jiff::Timestamp::from_microsecond(e.time_us)
            .map(|t| t.to_zoned(tz.clone()).hour())
            .unwrap_or(0)
            .clamp(0, 23) as usize;
        hours[hour].0 += 1;
        if e.is_blocked() {
            hours[hour].1 += 1;
        }
    }
    let rows: Vec<(String, u64)> = hours
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(h, (n, b))| (format!("{h:02}:00 ({b} blocked)"), *n))
        .collect();
    let previous = day.yesterday().map(|d| d.to_string()).unwrap_or_default();
    let next = day.tomorrow().map(|d| d.to_string()).unwrap_or_default();
    let user_q = query_escape(&q.user);
    let body = html! {
        p {
            a href={ "/timeline?user=" (user_q) "&day=" (previous) } { "← " (previous) }
            " · " strong { (day.to_string()) } " · "
            a href={ "/timeline?user=" (user_q) "&day=" (next) } { (next) " →" }
            " · " a href={ "/logs?user=" (user_q) } { "Search all of this user's events" }
        }
        section.card {
            h2 { "Requests by hour" }
            @if rows.is_empty() { p.muted { "No activity this day." } } @else { (views::bar_chart(&rows, "requests by hour")) }
        }
        (events_table(&console, &events))
    };
    Ok(page(&who, &format!("Timeline: {}", q.user), body).into_response())
}

// ---- checking a site -----------------------------------------------------

#[derive(Deserialize, Default)]
pub struct CheckQuery {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    group: Option<String>,
}

pub async fn check(State(console): St, who: Signed, Query(q): Query<CheckQuery>) -> PageResult {
    who.require(Permission::CheckUrl)?;
    let groups = console.engine.snapshot().group_names();
    let url = q.url.clone().unwrap_or_default();
    let group = q.group.clone().filter(|g| !g.is_empty());
    let result = if url.trim().is_empty() {
        None
    } else {
        Some(actions::check(&console, &url, group.as_deref()))
    };
    let body = html! {
        form.card method="get" action="/check" {
            div.grid-form {
                div style="grid-column: span 2" { label for="url" { "Address" } input #url name="url" value=(url) placeholder="https://example.com/page"; }
                div {
                    label for="group" { "Group" }
                    select #group name="group" {
                        option value="" { "Default group" }
                        @for g in &groups { option value=(g) selected[group.as_deref() == Some(g.as_str())] { (g) } }
                    }
                }
            }
            button type="submit" { "Check" }
        }
        @match result {
            Some(Ok(e)) => {
                section class={ "card verdict " (e.action) } {
                    h2 { span class={ "tag " (e.action) } { (e.action) } " " (e.target) }
                    p { (e.reason) }
                    table {
                        tr { th { "Group" } td { (e.group) } }
                        tr { th { "Categories" } td { (e.categories.join(", ")) } }
                        tr { th { "Rule" } td { (e.rule) } }
                        @if let Some(entry) = &e.entry { tr { th { "Matched entry" } td { code { (entry) } } } }
                        @if let Some(s) = e.safesearch { tr { th { "Safe search" } td { (s) } } }
                    }
                    @if e.action == "block" && !e.overridable {
                        p.notice { "This is on the illegal-content list. Nobody can unblock it." }
                    } @else if e.action == "block" && who.role.can(Permission::RequestUnblock) {
                        p { a.button href={ "/unblocks/new?url=" (query_escape(&e.target)) } { "Request a temporary unblock" } }
                    }
                }
            }
            Some(Err(e)) => { p.error { (e.to_string()) } }
            None => {}
        }
    };
    Ok(page(&who, "Check a site", body).into_response())
}

// ---- change control ------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// Where the block page's "Request a review" link lands: the unblock form,
/// filled in (after signing in).
pub async fn review(Query(q): Query<ReviewQuery>) -> Response {
    let mut parts = Vec::new();
    for (k, v) in [("url", &q.url), ("ref", &q.reference), ("user", &q.user)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", query_escape(&views::truncate(v, 4000))));
        }
    }
    redirect(&format!("/unblocks/new?{}", parts.join("&")))
}

fn unblock_form_page(
    console: &Console,
    who: &Signed,
    q: &ReviewQuery,
    error: Option<&str>,
    input: Option<&UnblockInput>,
) -> Markup {
    let tz = &console.options.timezone;
    let snapshot = console.engine.snapshot();
    let groups = snapshot.group_names();
    let url = input
        .map(|i| i.url.clone())
        .or_else(|| q.url.clone())
        .unwrap_or_default();
    let verdict = (!url.is_empty())
        .then(|| actions::check(console, &url, None).ok())
        .flatten();
    let default_revert = views::local_input(now_us() + 7 * 86_400_000_000, tz);
    let today = jiff::Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .to_string();
    let staff = input.map(|i| i.staff_name.clone()).unwrap_or_else(|| {
        who.user
            .display_name
            .clone()
            .unwrap_or_else(|| who.user.username.clone())
    });
    let field = |f: fn(&UnblockInput) -> Option<String>| input.and_then(f).unwrap_or_default();
    html! {
        p { "A temporary unblock allows a site for the people who need it until its reversion date, then ends by itself. The Online Safety Lead or an Administrator approves it." }
        @if q.reference.is_some() || q.user.is_some() {
            p.notice {
                "From a block page"
                @if let Some(u) = &q.user { ": pupil or user " strong { (u) } }
                @if let Some(r) = &q.reference { ", event reference " code { (r) } }
                "."
            }
        }
        @if let Some(v) = &verdict {
            p { "Now: " span class={ "tag " (v.action) } { (v.action) } " " (v.reason) }
            @if !v.overridable {
                p.error { "This is on the illegal-content list. Nobody can unblock it." }
            }
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action="/unblocks" {
            (csrf_field(who))
            input type="hidden" name="event_ref" value=(input.and_then(|i| i.event_ref.clone()).or_else(|| q.reference.clone()).unwrap_or_default());
            div.grid-form {
                div { label for="staff_name" { "Staff member who needs it" } input #staff_name name="staff_name" required value=(staff); }
                div { label for="requested_on" { "Date of request" } input #requested_on name="requested_on" type="date" value=(input.and_then(|i| i.requested_on.clone()).unwrap_or(today)); }
                div style="grid-column: 1 / -1" { label for="url" { "URL" } input #url name="url" required value=(url); }
                div { label for="site" { "Site to allow (blank: the URL's host)" } input #site name="site" value=(field(|i| i.site.clone())) placeholder="example.com or example.com/path"; }
                div {
                    label for="group" { "For group" }
                    select #group name="group" {
                        option value="" { "Everyone" }
                        @for g in &groups { option value=(g) selected[input.and_then(|i| i.group.as_deref()) == Some(g.as_str())] { (g) } }
                    }
                }
                div { label for="audience" { "Year groups or staff using it" } input #audience name="audience" required value=(input.map(|i| i.audience.clone()).unwrap_or_default()) placeholder="Year 9 history"; }
                div { label for="revert_at" { "Reverts at" } input #revert_at name="revert_at" type="datetime-local" required value=(input.map(|i| i.revert_at.clone()).unwrap_or(default_revert)); }
                div style="grid-column: 1 / -1" { label for="reason" { "Reason" } textarea #reason name="reason" required { (input.map(|i| i.reason.clone()).unwrap_or_default()) } }
            }
            button type="submit" { "Send request" }
        }
    }
}

pub async fn unblock_form(
    State(console): St,
    who: Signed,
    Query(q): Query<ReviewQuery>,
) -> PageResult {
    who.require(Permission::RequestUnblock)?;
    let body = unblock_form_page(&console, &who, &q, None, None);
    Ok(page(&who, "Request a temporary unblock", body).into_response())
}

#[derive(Deserialize)]
pub struct UnblockForm {
    csrf: String,
    #[serde(flatten)]
    input: UnblockInput,
}

pub async fn request_unblock(
    State(console): St,
    who: Signed,
    Form(form): Form<UnblockForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::RequestUnblock)?;
    match actions::request_unblock(&console, &who, form.input.clone()).await {
        Ok(id) => Ok(redirect(&format!("/unblocks?created={id}"))),
        Err(ConsoleError::BadRequest(m)) => {
            let body = unblock_form_page(
                &console,
                &who,
                &ReviewQuery::default(),
                Some(&m),
                Some(&form.input),
            );
            Ok((
                StatusCode::BAD_REQUEST,
                page(&who, "Request a temporary unblock", body),
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
pub struct UnblockListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    staff: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    created: Option<i64>,
}

impl UnblockListQuery {
    pub(crate) fn filter(&self, tz: &jiff::tz::TimeZone) -> Result<UnblockFilter, ConsoleError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                UnblockStatus::parse(s)
                    .ok_or_else(|| ConsoleError::BadRequest(format!("no status {s:?}")))?,
            ),
            None => None,
        };
        let time = |t: &Option<String>| {
            t.as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| views::parse_when(t, tz).map_err(ConsoleError::BadRequest))
                .transpose()
        };
        Ok(UnblockFilter {
            status,
            site: self.site.clone(),
            staff: self.staff.clone(),
            since_us: time(&self.since)?,
            until_us: time(&self.until)?,
        })
    }

    fn query_string(&self) -> String {
        [
            ("status", &self.status),
            ("site", &self.site),
            ("staff", &self.staff),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", query_escape(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
    }
}

pub async fn unblocks(
    State(console): St,
    who: Signed,
    Query(q): Query<UnblockListQuery>,
) -> PageResult {
    who.require(Permission::ViewChanges)?;
    let tz = console.options.timezone.clone();
    let list = actions::list_unblocks(&console, q.filter(&tz)?).await?;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        @if let Some(id) = q.created { p.ok { "Request " (id) " is recorded and waits for approval." } }
        form.card method="get" action="/unblocks" {
            div.grid-form {
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        option value="" { "Any" }
                        @for s in UnblockStatus::ALL { option value=(s.as_str()) selected[q.status.as_deref() == Some(s.as_str())] { (s.as_str()) } }
                    }
                }
                div { label for="site" { "Site or URL" } input #site name="site" value=(v(&q.site)); }
                div { label for="staff" { "Staff member" } input #staff name="staff" value=(v(&q.staff)); }
                div { label for="since" { "Entered from" } input #since name="since" type="date" value=(v(&q.since)); }
                div { label for="until" { "Entered before" } input #until name="until" type="date" value=(v(&q.until)); }
            }
            button type="submit" { "Filter" }
        }
        p {
            (plural(list.len(), "request", "requests")) ". " a href={ "/unblocks.csv?" (q.query_string()) } { "Export as CSV" }
            @if who.role.can(Permission::RequestUnblock) { " · " a href="/unblocks/new" { "New request" } }
        }
        div.table-wrap {
            table {
                thead { tr {
                    th { "#" } th { "Status" } th { "Staff member" } th { "Date" } th { "URL" } th { "Reason" }
                    th { "Used by" } th { "Group" } th { "Reverts" } th { "Entered by" } th { "Decided by" } th { "" }
                } }
                tbody {
                    @for u in &list {
                        tr {
                            td { (u.id) }
                            td { span class={ "tag " (u.status.as_str()) } { (u.status.as_str()) } }
                            td { (u.request.staff_name) }
                            td { (u.request.requested_on) }
                            td.url { (u.request.url) br; span.muted { "allows " (u.request.site) } }
                            td { (u.request.reason) }
                            td { (u.request.audience) }
                            td { (u.request.group.as_deref().unwrap_or("everyone")) }
                            td { (when(u.request.revert_us, &tz)) @if let Some(r) = u.reverted_us { br; span.muted { "reverted " (when(r, &tz)) } } }
                            td { (u.requested_by) br; span.muted { (when(u.created_us, &tz)) } }
                            td {
                                @if let Some(by) = &u.decided_by { (by) br; span.muted { (u.decided_us.map(|t| when(t, &tz)).unwrap_or_default()) } }
                                @if let Some(n) = u.decision_note.as_deref().filter(|n| !n.is_empty()) { br; em { (n) } }
                            }
                            td {
                                @if u.status == UnblockStatus::Pending && who.role.can(Permission::DecideUnblock) {
                                    form.actions method="post" action={ "/unblocks/" (u.id) "/decide" } {
                                        (csrf_field(&who))
                                        input name="note" placeholder="Note" aria-label="Note";
                                        button type="submit" name="decision" value="approve" { "Approve" }
                                        button.danger type="submit" name="decision" value="refuse" { "Refuse" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&who, "Change control", body).into_response())
}

pub async fn unblocks_csv(
    State(console): St,
    who: Signed,
    Query(q): Query<UnblockListQuery>,
) -> PageResult {
    who.require(Permission::ViewChanges)?;
    let tz = console.options.timezone.clone();
    let list = actions::list_unblocks(&console, q.filter(&tz)?).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let cell = tutela_store::query::neutralise_cell;
    let header = [
        "id",
        "status",
        "staff_member",
        "date",
        "url",
        "site",
        "reason",
        "year_groups_or_staff",
        "group",
        "reversion_date",
        "reverted_at",
        "entered_by",
        "entered_at",
        "changed_by",
        "changed_at",
        "note",
        "event_ref",
    ];
    w.write_record(header)
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    for u in &list {
        let opt_time = |t: Option<i64>| t.map(|t| when(t, &tz)).unwrap_or_default();
        let record = [
            u.id.to_string(),
            u.status.as_str().to_string(),
            u.request.staff_name.clone(),
            u.request.requested_on.clone(),
            u.request.url.clone(),
            u.request.site.clone(),
            u.request.reason.clone(),
            u.request.audience.clone(),
            u.request.group.clone().unwrap_or_else(|| "everyone".into()),
            when(u.request.revert_us, &tz),
            opt_time(u.reverted_us),
            u.requested_by.clone(),
            when(u.created_us, &tz),
            u.decided_by.clone().unwrap_or_default(),
            opt_time(u.decided_us),
            u.decision_note.clone().unwrap_or_default(),
            u.request.event_ref.clone().unwrap_or_default(),
        ];
        w.write_record(record.iter().map(|c| cell(c)))
            .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    Ok(csv_response(body, "tutela-change-control.csv"))
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    decision: Decision,
    #[serde(default)]
    note: String,
}

pub async fn decide_unblock(
    State(console): St,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<DecideForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::DecideUnblock)?;
    actions::decide_unblock(&console, &who, id, form.decision, form.note).await?;
    Ok(redirect("/unblocks"))
}

// ---- audit and users -----------------------------------------------------

pub async fn audit(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewAudit)?;
    let entries = actions::audit(&console, 500).await?;
    let tz = &console.options.timezone;
    let body = html! {
        p.muted { "Every change and sign-in, newest first. The log cannot be edited or deleted." }
        div.table-wrap { table {
            thead { tr { th { "Time" } th { "Who" } th { "What" } th { "Object" } th { "Before" } th { "After" } th { "Reason" } } }
            tbody { @for e in &entries { tr {
                td { (when(e.time_us, tz)) } td { (e.actor) } td { code { (e.action) } } td { (e.object) }
                td.url { (e.before.as_deref().unwrap_or("")) } td.url { (e.after.as_deref().unwrap_or("")) } td { (e.reason.as_deref().unwrap_or("")) }
            } } }
        } }
    };
    Ok(page(&who, "Audit log", body).into_response())
}

fn users_page(
    console: &Console,
    who: &Signed,
    users: &[people::User],
    error: Option<&str>,
) -> Markup {
    let tz = &console.options.timezone;
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        div.table-wrap { table {
            thead { tr { th { "Username" } th { "Name" } th { "Kind" } th { "Year group" } th { "Console role" } th { "Two-factor" } th { "Expires" } th { "State" } th { "" } } }
            tbody { @for u in users { tr {
                td { (u.username) } td { (u.display_name.as_deref().unwrap_or("")) } td { (u.kind) }
                td { (u.year_group.as_deref().unwrap_or("")) }
                td { (u.console_role.as_deref().and_then(Role::parse).map(Role::title).unwrap_or("")) }
                td { @if u.has_second_factor() { "on" } }
                td { (u.expires_us.map(|t| when(t, tz)).unwrap_or_default()) }
                td { @if !u.is_active(now_us()) { span.tag.block { "disabled or expired" } } @else { "active" } }
                td { @if who.role.can(Permission::ManageUsers) {
                    form.actions method="post" action={ "/users/" (u.id) "/change" } {
                        (csrf_field(who))
                        @if u.disabled {
                            button.secondary type="submit" name="change" value="enable" { "Enable" }
                        } @else if u.id != who.user.id {
                            button.danger type="submit" name="change" value="disable" { "Disable" }
                        }
                        @if u.has_second_factor() {
                            button.secondary type="submit" name="change" value="reset_second_factor" { "Reset two-factor" }
                        }
                    }
                } }
            } } }
        } }
        @if who.role.can(Permission::ManageUsers) {
            h2 { "Add a user" }
            form.card method="post" action="/users" {
                (csrf_field(who))
                div.grid-form {
                    div { label for="username" { "Username (blank for a guest: a temporary ID)" } input #username name="username"; }
                    div { label for="display_name" { "Name" } input #display_name name="display_name"; }
                    div { label for="kind" { "Kind" } select #kind name="kind" { option value="pupil" { "Pupil" } option value="staff" { "Staff" } option value="guest" { "Guest" } } }
                    div { label for="year_group" { "Year group" } input #year_group name="year_group" placeholder="Year 7"; }
                    div { label for="console_role" { "Console role" } select #console_role name="console_role" {
                        option value="" { "None" }
                        @for r in Role::ALL { option value=(r.as_str()) { (r.title()) } }
                    } }
                    div { label for="password" { "Password (console or proxy sign-in)" } input #password name="password" type="password" autocomplete="new-password"; }
                    div { label for="expires" { "Expires (guests)" } input #expires name="expires" type="date"; }
                }
                button type="submit" { "Add user" }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    #[serde(default)]
    imported: Option<usize>,
}

pub async fn users(State(console): St, who: Signed, Query(q): Query<UsersQuery>) -> PageResult {
    who.require(Permission::ViewUsers)?;
    let list = console.db(people::users).await?;
    let body = html! {
        @if let Some(n) = q.imported { p.ok { (n) " users imported." } }
        @if who.role.can(Permission::ManageUsers) { p { a.button href="/users/import" { "Import from a CSV file" } } }
        (users_page(&console, &who, &list, None))
    };
    Ok(page(&who, "Users", body).into_response())
}

#[derive(Deserialize)]
pub struct UserForm {
    csrf: String,
    #[serde(flatten)]
    input: UserInput,
}

pub async fn add_user(State(console): St, who: Signed, Form(form): Form<UserForm>) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    match actions::add_user(&console, &who, form.input).await {
        Ok(added) => match &added.generated_password {
            // Shown once, here; only its hash is kept.
            Some(password) => {
                let list = console.db(people::users).await?;
                let body = html! {
                    p.ok {
                        "Guest account made. Give these to the guest; the password is not shown again: "
                        br; "Username: " code #guest-username { (added.username) }
                        br; "Password: " code #guest-password { (password) }
                    }
                    (users_page(&console, &who, &list, None))
                };
                Ok(page(&who, "Users", body).into_response())
            }
            None => Ok(redirect("/users")),
        },
        Err(ConsoleError::BadRequest(m)) => {
            let list = console.db(people::users).await?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(&who, "Users", users_page(&console, &who, &list, Some(&m))),
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn import_form(who: Signed) -> PageResult {
    who.require(Permission::ManageUsers)?;
    let body = html! {
        p { "Import pupils and staff from your MIS export (CSV). Every row is checked first; you see what would be imported before anything is." }
        p.muted { "Columns are found by name: a username (username, login, email or UPN), and any of kind (pupil or staff), name, or forename and surname, and year group. Other columns are ignored." }
        form.card method="post" action="/users/import" enctype="multipart/form-data" {
            (csrf_field(&who))
            label for="file" { "CSV file" }
            input #file name="file" type="file" accept=".csv,text/csv" required;
            label for="default_kind" { "Rows with no kind are" }
            select #default_kind name="default_kind" { option value="pupil" { "Pupils" } option value="staff" { "Staff" } }
            button type="submit" { "Check the file" }
        }
    };
    Ok(page(&who, "Import users", body).into_response())
}

fn import_report(
    who: &Signed,
    outcome: &actions::ImportOutcome,
    data_b64: &str,
    default_kind: &str,
) -> Markup {
    let plan = &outcome.plan;
    html! {
        @if plan.errors.is_empty() {
            p.ok { (plan.valid_rows) " rows are ready to import." }
        } @else {
            p.error { (plan.errors.len()) " rows have errors. Nothing is imported from this file unless you confirm the " (plan.valid_rows) " valid rows." }
            div.table-wrap { table {
                thead { tr { th { "Line" } th { "Problem" } } }
                tbody { @for e in &plan.errors { tr { td { (e.line) } td { (e.message) } } } }
            } }
        }
        @if !plan.ignored_columns.is_empty() {
            p.muted { "Ignored columns: " (plan.ignored_columns.join(", ")) }
        }
        @if plan.valid_rows > 0 {
            h2 { "Valid rows" }
            p { (views::truncate(&plan.usernames.join(", "), 2000)) }
            form.card method="post" action="/users/import/confirm" {
                (csrf_field(who))
                input type="hidden" name="data" value=(data_b64);
                input type="hidden" name="default_kind" value=(default_kind);
                @if !plan.errors.is_empty() {
                    label { input type="checkbox" name="confirm_partial" value="yes" style="width:auto"; " Import only the " (plan.valid_rows) " valid rows" }
                }
                button type="submit" { "Import " (plan.valid_rows) " users" }
            }
        }
        p { a href="/users/import" { "Choose another file" } }
    }
}

pub async fn import_check(
    State(console): St,
    who: Signed,
    mut multipart: axum::extract::Multipart,
) -> PageResult {
    use base64::Engine as _;
    let (mut csrf, mut data, mut default_kind) = (String::new(), Vec::new(), "pupil".to_string());
    let bad_upload = |e: axum::extract::multipart::MultipartError| {
        ConsoleError::BadRequest(format!("the upload could not be read: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad_upload)? {
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.map_err(bad_upload)?,
            "default_kind" => default_kind = field.text().await.map_err(bad_upload)?,
            "file" => {
                let bytes = field.bytes().await.map_err(bad_upload)?;
                if bytes.len() > crate::import::MAX_BYTES {
                    return Err(ConsoleError::BadRequest(
                        crate::import::ImportError::TooLarge.to_string(),
                    ));
                }
                data = bytes.to_vec();
            }
            _ => {}
        }
    }
    who.check_csrf(&csrf)?;
    who.require(Permission::ManageUsers)?;
    let outcome =
        actions::import_users(&console, &who, data.clone(), &default_kind, false, true).await?;
    let data_b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    Ok(page(
        &who,
        "Import users: check",
        import_report(&who, &outcome, &data_b64, &default_kind),
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct ImportConfirm {
    csrf: String,
    data: String,
    default_kind: String,
    #[serde(default)]
    confirm_partial: Option<String>,
}

pub async fn import_confirm(
    State(console): St,
    who: Signed,
    Form(form): Form<ImportConfirm>,
) -> PageResult {
    use base64::Engine as _;
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(form.data.as_bytes())
        .map_err(|_| {
            ConsoleError::BadRequest("the file data was damaged; check the file again".into())
        })?;
    let partial = form.confirm_partial.as_deref() == Some("yes");
    let outcome =
        actions::import_users(&console, &who, data, &form.default_kind, partial, false).await?;
    Ok(redirect(&format!("/users?imported={}", outcome.imported)))
}

// ---- policies ------------------------------------------------------------

fn safesearch_label(g: &tutela_policy::config::GroupConfig) -> &'static str {
    use tutela_policy::config::SafeSearchMode::*;
    let s = g.safesearch;
    if [s.bing, s.duckduckgo, s.youtube]
        .iter()
        .all(|m| *m == s.google)
    {
        match s.google {
            Off => "off",
            Moderate => "moderate",
            Strict => "strict",
        }
    } else {
        "per engine"
    }
}

pub async fn policies(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewPolicy)?;
    let policy = actions::configured_policy(&console).await?;
    let stored: std::collections::HashMap<String, (i64, String)> = console
        .db(tutela_store::policies::list)
        .await?
        .into_iter()
        .map(|g| (g.name, (g.updated_us, g.updated_by)))
        .collect();
    let snapshot = console.engine.snapshot();
    let illegal: Vec<String> = snapshot
        .illegal()
        .categories()
        .iter()
        .map(|(_, i)| i.name.clone())
        .collect();
    let tz = &console.options.timezone;
    let body = html! {
        div.table-wrap { table {
            thead { tr { th { "Group" } th { "Kind" } th { "Blocked categories" } th { "Safe search" } th { "TLS inspection" } th { "Walled garden" } th { "Last changed" } } }
            tbody { @for (name, g) in &policy.groups { tr {
                td { a href={ "/policies/" (query_escape(name)) } { (name) } @if *name == policy.default_group { " " span.tag { "default" } } }
                td { (format!("{:?}", g.role).to_lowercase()) }
                td { (g.block_categories.len()) }
                td { (safesearch_label(g)) }
                td { @if g.tls_inspection { "on" } @else { "off" } }
                td { @if g.walled_garden { "on" } @else { "off" } }
                td { @match stored.get(name) {
                    Some((t, by)) => { (when(*t, tz)) " by " (by) }
                    None => { span.muted { "configuration file" } }
                } }
            } } }
        } }
        @if who.role.can(Permission::EditPolicy) {
            h2 { "New group" }
            form.card method="post" action="/policies" {
                (csrf_field(&who))
                div.grid-form {
                    div { label for="name" { "Name" } input #name name="name" required pattern="[a-z0-9_-]{1,40}" placeholder="year7"; }
                    div { label for="copy_from" { "Start from" } select #copy_from name="copy_from" {
                        @for name in policy.groups.keys() { option value=(name) selected[*name == policy.default_group] { (name) } }
                    } }
                }
                button type="submit" { "Create group" }
            }
        }
        h2 { "Illegal-content tier" }
        section.card {
            p { "Always blocked, for everyone, before any other rule. No group, role, override or unblock can allow it, and it cannot be changed here." }
            @if illegal.is_empty() {
                p.notice { "No illegal-content lists are configured. Add the IWF and CTIRU lists under [[illegal]] in the configuration file." }
            } @else {
                p { "Lists: " (illegal.join(", ")) " (" (snapshot.illegal().domain_count()) " entries)" }
            }
        }
    };
    Ok(page(&who, "Policies", body).into_response())
}

#[derive(Deserialize)]
pub struct CreateGroupForm {
    csrf: String,
    name: String,
    copy_from: String,
}

pub async fn create_group(
    State(console): St,
    who: Signed,
    Form(form): Form<CreateGroupForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::EditPolicy)?;
    let name = form.name.trim().to_string();
    actions::check_group_name(&name)?;
    let policy = actions::configured_policy(&console).await?;
    if policy.groups.contains_key(&name) {
        return Err(ConsoleError::BadRequest(format!(
            "a group is already called {name:?}"
        )));
    }
    let base = policy.groups.get(&form.copy_from).cloned().ok_or_else(|| {
        ConsoleError::BadRequest(format!("there is no group {:?}", form.copy_from))
    })?;
    actions::save_group(&console, &who, &name, base).await?;
    Ok(redirect(&format!("/policies/{}", query_escape(&name))))
}

fn group_page(
    console: &Console,
    who: &Signed,
    name: &str,
    g: &tutela_policy::config::GroupConfig,
    error: Option<&str>,
    warnings: &[String],
) -> Markup {
    let snapshot = console.engine.snapshot();
    let mut categories: Vec<(String, String)> = snapshot
        .index()
        .categories()
        .iter()
        .map(|(_, i)| (i.name.clone(), i.display_name.clone().unwrap_or_default()))
        .collect();
    // Categories the group names that no list provides still show.
    for c in g.block_categories.iter().chain(&g.allow_categories) {
        if !categories.iter().any(|(n, _)| n == c) {
            categories.push((c.clone(), "(no list loaded)".into()));
        }
    }
    categories.sort();
    let edit = who.role.can(Permission::EditPolicy);
    let mode = safesearch_label(g);
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @for w in warnings { p.notice { (w) } }
        p { a href={ "/check?group=" (query_escape(name)) } { "Check a site for this group" } }
        form method="post" action={ "/policies/" (query_escape(name)) } {
            (csrf_field(who))
            section.card {
                div.grid-form {
                    div style="grid-column: 1 / -1" { label for="description" { "Description" } input #description name="description" value=(g.description) disabled[!edit]; }
                    div { label for="role" { "Kind" } select #role name="role" disabled[!edit] {
                        @for (v, l) in [("pupil", "Pupils"), ("staff", "Staff"), ("guest", "Guests")] {
                            option value=(v) selected[format!("{:?}", g.role).to_lowercase() == v] { (l) }
                        }
                    } }
                    div { label for="safesearch" { "Safe search" } select #safesearch name="safesearch" disabled[!edit] {
                        @if mode == "per engine" { option value="keep" selected { "Per engine (as configured)" } }
                        @for v in ["strict", "moderate", "off"] { option value=(v) selected[mode == v] { (v) } }
                    } }
                    div { label { input type="checkbox" name="tls_inspection" value="on" checked[g.tls_inspection] disabled[!edit] style="width:auto"; " TLS inspection" } }
                    div { label { input type="checkbox" name="walled_garden" value="on" checked[g.walled_garden] disabled[!edit] style="width:auto"; " Walled garden (only allowed sites)" } }
                }
            }
            section.card {
                h2 { "Sites" }
                div.grid-form {
                    div { label for="allow_sites" { "Always allow (one per line)" } textarea #allow_sites name="allow_sites" disabled[!edit] { (g.allow_sites.join("\n")) } }
                    div { label for="block_sites" { "Always block (one per line)" } textarea #block_sites name="block_sites" disabled[!edit] { (g.block_sites.join("\n")) } }
                }
            }
            section.card {
                h2 { "Categories" }
                div.table-wrap { table {
                    thead { tr { th { "Category" } th { "Block" } th { "Allow" } } }
                    tbody { @for (c, display) in &categories { tr {
                        td { (display) @if !display.is_empty() { " " } code { (c) } }
                        td { input type="checkbox" name={ "block:" (c) } value="on" aria-label={ "Block " (c) } checked[g.block_categories.contains(c)] disabled[!edit] style="width:auto"; }
                        td { input type="checkbox" name={ "allow:" (c) } value="on" aria-label={ "Allow " (c) } checked[g.allow_categories.contains(c)] disabled[!edit] style="width:auto"; }
                    } } }
                } }
            }
            section.card {
                h2 { "Schedules" }
                p.muted { "Windows when this group's rules change, e.g. games allowed at lunchtime. Days: mon..sun, weekdays, weekends or all. Lists are comma-separated. Clear the days of a window to remove it." }
                @let blank = tutela_policy::config::ScheduleConfig::default();
                @for (i, w) in g.schedule.iter().chain(edit.then_some(&blank)).enumerate() {
                    fieldset.grid-form {
                        legend { @if i < g.schedule.len() { "Window " (i + 1) } @else { "New window" } }
                        div { label for={ "days" (i) } { "Days" } input id={ "days" (i) } name={ "schedule." (i) ".days" } value=(w.days.join(", ")) placeholder="weekdays" disabled[!edit]; }
                        div { label for={ "from" (i) } { "From" } input id={ "from" (i) } name={ "schedule." (i) ".from" } value=(w.from) placeholder="12:00" disabled[!edit]; }
                        div { label for={ "to" (i) } { "To" } input id={ "to" (i) } name={ "schedule." (i) ".to" } value=(w.to) placeholder="13:00" disabled[!edit]; }
                        div { label for={ "sac" (i) } { "Allow categories" } input id={ "sac" (i) } name={ "schedule." (i) ".allow_categories" } value=(w.allow_categories.join(", ")) disabled[!edit]; }
                        div { label for={ "sbc" (i) } { "Block categories" } input id={ "sbc" (i) } name={ "schedule." (i) ".block_categories" } value=(w.block_categories.join(", ")) disabled[!edit]; }
                        div { label for={ "sas" (i) } { "Allow sites" } input id={ "sas" (i) } name={ "schedule." (i) ".allow_sites" } value=(w.allow_sites.join(", ")) disabled[!edit]; }
                        div { label for={ "sbs" (i) } { "Block sites" } input id={ "sbs" (i) } name={ "schedule." (i) ".block_sites" } value=(w.block_sites.join(", ")) disabled[!edit]; }
                    }
                }
            }
            @if edit { button type="submit" { "Save policy" } }
        }
    }
}

/// Schedule windows from `schedule.N.field` form fields; a window with no
/// days is dropped.
fn schedule_from(fields: &[(String, String)]) -> Vec<tutela_policy::config::ScheduleConfig> {
    let mut windows: std::collections::BTreeMap<usize, tutela_policy::config::ScheduleConfig> =
        Default::default();
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(|x| x.trim().to_lowercase())
            .filter(|x| !x.is_empty())
            .collect()
    };
    for (k, v) in fields {
        let Some(rest) = k.strip_prefix("schedule.") else {
            continue;
        };
        let Some((i, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(i) = i.parse::<usize>() else {
            continue;
        };
        if i >= 64 {
            continue;
        }
        let w = windows.entry(i).or_default();
        match field {
            "days" => w.days = list(v),
            "from" => w.from = v.trim().to_string(),
            "to" => w.to = v.trim().to_string(),
            "allow_categories" => w.allow_categories = list(v),
            "block_categories" => w.block_categories = list(v),
            "allow_sites" => w.allow_sites = list(v),
            "block_sites" => w.block_sites = list(v),
            _ => {}
        }
    }
    windows
        .into_values()
        .filter(|w| !w.days.is_empty())
        .collect()
}

pub async fn group_form(State(console): St, who: Signed, Path(name): Path<String>) -> PageResult {
    who.require(Permission::ViewPolicy)?;
    let policy = actions::configured_policy(&console).await?;
    let g = policy.groups.get(&name).ok_or(ConsoleError::NotFound)?;
    Ok(page(
        &who,
        &format!("Policy: {name}"),
        group_page(&console, &who, &name, g, None, &[]),
    )
    .into_response())
}

pub async fn save_group(
    State(console): St,
    who: Signed,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    who.check_csrf(field("csrf").unwrap_or(""))?;
    who.require(Permission::EditPolicy)?;
    let policy = actions::configured_policy(&console).await?;
    let mut g = policy
        .groups
        .get(&name)
        .cloned()
        .ok_or(ConsoleError::NotFound)?;
    use tutela_policy::config::{Role as GroupRole, SafeSearchConfig, SafeSearchMode};
    g.description = field("description").unwrap_or("").trim().to_string();
    g.role = match field("role") {
        Some("staff") => GroupRole::Staff,
        Some("guest") => GroupRole::Guest,
        _ => GroupRole::Pupil,
    };
    match field("safesearch") {
        Some("strict") => g.safesearch = SafeSearchConfig::all(SafeSearchMode::Strict),
        Some("moderate") => g.safesearch = SafeSearchConfig::all(SafeSearchMode::Moderate),
        Some("off") => g.safesearch = SafeSearchConfig::all(SafeSearchMode::Off),
        _ => {}
    }
    g.tls_inspection = field("tls_inspection") == Some("on");
    g.walled_garden = field("walled_garden") == Some("on");
    let lines = |k: &str| -> Vec<String> {
        field(k)
            .unwrap_or("")
            .lines()
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect()
    };
    g.allow_sites = lines("allow_sites");
    g.block_sites = lines("block_sites");
    g.schedule = schedule_from(&fields);
    g.block_categories = fields
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("block:").map(str::to_string))
        .collect();
    g.allow_categories = fields
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("allow:").map(str::to_string))
        .collect();
    match actions::save_group(&console, &who, &name, g.clone()).await {
        Ok(warnings) if warnings.is_empty() => {
            Ok(redirect(&format!("/policies/{}", query_escape(&name))))
        }
        Ok(warnings) => Ok(page(
            &who,
            &format!("Policy: {name}"),
            group_page(&console, &who, &name, &g, None, &warnings),
        )
        .into_response()),
        Err(ConsoleError::BadRequest(m)) => Ok((
            StatusCode::BAD_REQUEST,
            page(
                &who,
                &format!("Policy: {name}"),
                group_page(&console, &who, &name, &g, Some(&m), &[]),
            ),
        )
            .into_response()),
        Err(e) => Err(e),
    }
}

// ---- networks and devices --------------------------------------------------

#[derive(Deserialize, Default)]
pub struct NetworkQuery {
    /// A device just added, whose token is shown once here.
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    device: Option<String>,
}

pub async fn network(State(console): St, who: Signed, Query(q): Query<NetworkQuery>) -> PageResult {
    who.require(Permission::ViewUsers)?;
    let (subnets, devices) = console
        .db(|db| {
            Ok((
                tutela_store::identities::subnets(db)?,
                tutela_store::identities::devices(db)?,
            ))
        })
        .await?;
    let manage = who.role.can(Permission::ManageUsers);
    let groups = console.engine.snapshot().group_names();
    let body = html! {
        @if let (Some(t), Some(d)) = (&q.token, &q.device) {
            p.ok { "Device " strong { (d) } " added. Its DoH address is " code { "/dns-query/" (t) } " on the DNS filter's DoH listener." }
        }
        h2 { "Networks" }
        p.muted { "Clients in a subnet (a VLAN, a room, a site's Wi-Fi) are treated as that group unless they sign in. The most specific subnet wins; subnets in the configuration file come first." }
        div.table-wrap { table {
            thead { tr { th { "Subnet" } th { "Group" } th { "School site" } th { "" } } }
            tbody { @for r in &subnets { tr {
                td { code { (r.subnet) } } td { (r.group) } td { (r.site.as_deref().unwrap_or("")) }
                td { @if manage {
                    form.actions method="post" action={ "/network/subnets/" (r.id) "/remove" } { (csrf_field(&who)) button.danger type="submit" { "Remove" } }
                } }
            } } }
        } }
        @if manage {
            form.card method="post" action="/network/subnets" {
                (csrf_field(&who))
                div.grid-form {
                    div { label for="subnet" { "Subnet" } input #subnet name="subnet" required placeholder="10.0.7.0/24"; }
                    div { label for="subnet_group" { "Group" } select #subnet_group name="group" { @for g in &groups { option value=(g) { (g) } } } }
                    div { label for="subnet_site" { "School site" } input #subnet_site name="site" placeholder="Main site"; }
                }
                button type="submit" { "Add subnet" }
            }
        }
        h2 { "Devices" }
        p.muted { "A device with its own DoH address is filtered as its owner wherever it is, on or off site." }
        div.table-wrap { table {
            thead { tr { th { "Device" } th { "Owner" } th { "School site" } th { "" } } }
            tbody { @for d in &devices { tr {
                td { (d.name) } td { (d.owner.as_deref().unwrap_or("")) } td { (d.site.as_deref().unwrap_or("")) }
                td { @if manage {
                    form.actions method="post" action={ "/network/devices/" (d.id) "/remove" } { (csrf_field(&who)) button.danger type="submit" { "Remove" } }
                } }
            } } }
        } }
        @if manage {
            form.card method="post" action="/network/devices" {
                (csrf_field(&who))
                div.grid-form {
                    div { label for="device_name" { "Device name" } input #device_name name="name" required placeholder="Laptop 17"; }
                    div { label for="device_owner" { "Owner's username" } input #device_owner name="owner"; }
                    div { label for="device_site" { "School site" } input #device_site name="site"; }
                }
                button type="submit" { "Add device" }
            }
        }
    };
    Ok(page(&who, "Networks and devices", body).into_response())
}

#[derive(Deserialize)]
pub struct SubnetForm {
    csrf: String,
    #[serde(flatten)]
    input: actions::SubnetInput,
}

pub async fn add_subnet(
    State(console): St,
    who: Signed,
    Form(form): Form<SubnetForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    actions::add_subnet(&console, &who, form.input).await?;
    Ok(redirect("/network"))
}

pub async fn remove_from_network(
    State(console): St,
    who: Signed,
    Path((item, id)): Path<(actions::NetworkItem, i64)>,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    actions::remove_from_network(&console, &who, item, id).await?;
    Ok(redirect("/network"))
}

#[derive(Deserialize)]
pub struct DeviceForm {
    csrf: String,
    #[serde(flatten)]
    input: actions::DeviceInput,
}

pub async fn add_device(
    State(console): St,
    who: Signed,
    Form(form): Form<DeviceForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    let name = form.input.name.trim().to_string();
    let (_, token) = actions::add_device(&console, &who, form.input).await?;
    Ok(redirect(&format!(
        "/network?device={}&token={}",
        query_escape(&name),
        query_escape(&token)
    )))
}

#[derive(Deserialize)]
pub struct AccountChangeForm {
    csrf: String,
    change: actions::AccountChange,
}

pub async fn change_account(
    State(console): St,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<AccountChangeForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::ManageUsers)?;
    actions::change_account(&console, &who, id, form.change).await?;
    Ok(redirect("/users"))
}

// ---- device set-up -------------------------------------------------------

pub async fn device_setup(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewDeviceSetup)?;
    let o = &console.options;
    let body = html! {
        section.card {
            h2 { "1. Point browsers at the filtering proxy" }
            @if let Some(addr) = &o.proxy_address {
                p { "Proxy: " code { (addr) } ". Automatic configuration (PAC) address: " code { "http://" (addr) "/proxy.pac" } }
            }
            @if o.pac_script.is_some() { p { a href="/proxy.pac" { "Download the PAC file" } " (also served by the console at " code { "/proxy.pac" } ")." } }
            ul {
                li { strong { "Windows (Group Policy): " } "User Configuration → Preferences → Control Panel Settings → Internet Settings, or Settings → Network → Proxy → Use set-up script, with the PAC address." }
                li { strong { "macOS: " } "System Settings → Network → your network → Details → Proxies → Automatic proxy configuration." }
                li { strong { "ChromeOS (Google Admin): " } "Devices → Chrome → Settings → Network → Proxy mode: always use the proxy auto-configured (PAC)." }
                li { strong { "iPad and iPhone (MDM): " } "a Global HTTP Proxy payload with the PAC URL." }
                li { strong { "Android: " } "Wi-Fi network → Advanced → Proxy → Proxy Auto-Config." }
            }
            p.muted { "The PAC file has no DIRECT fallback: if the proxy is down, browsing stops rather than bypassing the filter." }
        }
        section.card {
            h2 { "2. Install the school's certificate (only for groups with TLS inspection)" }
            @if o.ca_pem.is_some() {
                p { a.button href="/tutela-ca.pem" { "Download tutela-ca.pem" } }
                ul {
                    li { strong { "Windows: " } "Group Policy → Computer Configuration → Windows Settings → Security Settings → Public Key Policies → Trusted Root Certification Authorities → Import; or " code { "certutil -addstore -f Root tutela-ca.pem" } }
                    li { strong { "macOS: " } "open the file in Keychain Access, add it to the System keychain, and set it to Always Trust (or push it with an MDM certificate payload)." }
                    li { strong { "ChromeOS: " } "Google Admin → Devices → Networks → Certificates → add, and tick Chromebook as a certificate authority." }
                    li { strong { "iPad and iPhone: " } "an MDM certificate payload; then Settings → General → About → Certificate Trust Settings." }
                    li { strong { "Firefox: " } "the " code { "security.enterprise_roots.enabled" } " policy makes it trust the system's roots." }
                }
                p.muted { "Sites on the never-inspect list (banking, health and counselling services, apps that pin certificates) are never decrypted." }
            } @else {
                p.muted { "TLS inspection is not set up on this server." }
            }
        }
    };
    Ok(page(&who, "Device set-up", body).into_response())
}

pub async fn pac(State(console): St) -> Response {
    match &console.options.pac_script {
        Some(pac) => {
            let mut r = pac.clone().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
            );
            r
        }
        None => ConsoleError::NotFound.into_response(),
    }
}

pub async fn ca_certificate(State(console): St) -> Response {
    match &console.options.ca_pem {
        Some(pem) => {
            let mut r = pem.clone().into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"tutela-ca.pem\""),
            );
            r
        }
        None => ConsoleError::NotFound.into_response(),
    }
}
