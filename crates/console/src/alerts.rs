//! Safeguarding alerts in the console: the list, one alert with the
//! pupil's browsing an hour either side, triage with a note on every step,
//! exclusions with a scope and an end, and the lexicons a DSL may edit.
//! Every read of an alert, every step and every edit is audited. Alert
//! text (searches, URLs, page excerpts) is hostile input; maud escapes it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use tutela_monitor::lexicon::THEMES;
use tutela_monitor::{theme_label, SPELLINGS_FILE};
use tutela_store::alerts::{
    self, Alert, AlertFilter, AlertNote, AlertState, Exclusion, LexiconVersion, NewExclusion,
    TriageError,
};
use tutela_store::{AccessEvent, AuditEntry, Backend, EventQuery, StoreError};

use crate::auth::{now_us, ApiSigned, HalfSigned, Signed};
use crate::pages::events_table;
use crate::roles::Permission;
use crate::views::{csrf_field, page, parse_when, redirect, when};
use crate::{Console, ConsoleError};

type St = State<Arc<Console>>;
type PageResult = Result<Response, ConsoleError>;

const HOUR_US: i64 = 3_600_000_000;

fn audit(
    actor: String,
    action: &str,
    object: String,
    before: Option<String>,
    after: Option<String>,
    reason: Option<String>,
) -> AuditEntry {
    AuditEntry {
        reason,
        ..crate::actions::audit_entry(actor, action, object, before, after)
    }
}

// ---- actions, shared by pages and API --------------------------------------

/// One alert, its notes and the pupil's browsing around it; the read is
/// audited.
pub struct AlertView {
    pub alert: Alert,
    pub notes: Vec<AlertNote>,
    pub context: Vec<AccessEvent>,
}

pub async fn read_alert(
    console: &Console,
    who: &HalfSigned,
    id: i64,
) -> Result<AlertView, ConsoleError> {
    let actor = who.actor();
    console
        .db(move |db| {
            let Some(alert) = alerts::get(db, id)? else {
                return Ok(Err(ConsoleError::NotFound));
            };
            db.append_audit(&audit(
                actor,
                "alert.read",
                format!("alert:{id}"),
                None,
                None,
                None,
            ))?;
            let notes = alerts::notes(db, id)?;
            let context = browsing_around(db, &alert)?;
            Ok(Ok(AlertView {
                alert,
                notes,
                context,
            }))
        })
        .await?
}

/// The pupil's browsing from an hour before the alert to an hour after
/// its last hit.
fn browsing_around(db: &mut dyn Backend, alert: &Alert) -> Result<Vec<AccessEvent>, StoreError> {
    let mut query = EventQuery {
        since_us: Some(alert.created_us - HOUR_US),
        until_us: Some(alert.last_us + HOUR_US),
        ..Default::default()
    };
    // Alerts name a username, or the device's address when no one signed in.
    if alert.subject.parse::<std::net::IpAddr>().is_ok() {
        query.ip = Some(alert.subject.clone());
    } else {
        query.user = Some(alert.subject.clone());
    }
    let mut out = Vec::new();
    db.for_each_page(&query, 1_000, &mut |page| {
        out.extend_from_slice(page);
        Ok(())
    })?;
    Ok(out)
}

pub async fn list_alerts(
    console: &Console,
    filter: AlertFilter,
) -> Result<Vec<Alert>, ConsoleError> {
    console.db(move |db| alerts::list(db, &filter)).await
}

pub async fn triage(
    console: &Console,
    who: &HalfSigned,
    id: i64,
    from: AlertState,
    to: AlertState,
    note: String,
) -> Result<AlertNote, ConsoleError> {
    let actor = who.actor();
    let note: String = note.trim().chars().take(4000).collect();
    console
        .db(
            move |db| match alerts::triage(db, id, from, to, &actor, &note, now_us()) {
                Ok(n) => {
                    db.append_audit(&audit(
                        actor,
                        "alert.triage",
                        format!("alert:{id}"),
                        Some(from.as_str().into()),
                        Some(to.as_str().into()),
                        Some(note),
                    ))?;
                    Ok(Ok(n))
                }
                Err(TriageError::Store(e)) => Err(e),
                Err(TriageError::NotFound(_)) => Ok(Err(ConsoleError::NotFound)),
                Err(e) => Ok(Err(ConsoleError::BadRequest(e.to_string()))),
            },
        )
        .await?
}

// ---- pages -------------------------------------------------------------------

fn severity_tag(severity: u8) -> Markup {
    let class = if severity >= 4 { "tag block" } else { "tag" };
    html! { span class=(class) { "severity " (severity) } }
}

fn state_tag(state: AlertState) -> Markup {
    let class = match state {
        AlertState::New => "tag block",
        AlertState::Escalated => "tag block",
        _ => "tag",
    };
    html! { span class=(class) { (state.label()) } }
}

#[derive(Debug, Default, Deserialize)]
pub struct AlertListQuery {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub pupil: Option<String>,
}

impl AlertListQuery {
    fn filter(&self) -> AlertFilter {
        let state = self.state.as_deref().unwrap_or("open");
        AlertFilter {
            state: AlertState::parse(state),
            open: state == "open",
            theme: self.theme.clone().filter(|t| !t.is_empty()),
            min_severity: self.severity.as_deref().and_then(|s| s.parse().ok()),
            subject: self.pupil.clone().filter(|p| !p.is_empty()),
            ..AlertFilter::default()
        }
    }
}

pub async fn alerts_page(
    State(console): St,
    who: Signed,
    Query(q): Query<AlertListQuery>,
) -> PageResult {
    who.require(Permission::ViewAlerts)?;
    let list = list_alerts(&console, q.filter()).await?;
    let tz = &console.options.timezone;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let state = q.state.clone().unwrap_or_else(|| "open".into());
    let body = html! {
        form.card method="get" action="/alerts" {
            div.grid-form {
                div {
                    label for="state" { "State" }
                    select #state name="state" {
                        option value="open" selected[state == "open"] { "Waiting (new or in review)" }
                        option value="all" selected[state == "all"] { "Any" }
                        @for s in AlertState::ALL { option value=(s.as_str()) selected[state == s.as_str()] { (s.label()) } }
                    }
                }
                div {
                    label for="theme" { "Theme" }
                    select #theme name="theme" {
                        option value="" { "Any" }
                        @for t in THEMES { option value=(t) selected[q.theme.as_deref() == Some(*t)] { (theme_label(t)) } }
                    }
                }
                div {
                    label for="severity" { "Severity at least" }
                    select #severity name="severity" {
                        @for s in 1..=5u8 { option value=(s) selected[q.severity.as_deref() == Some(&s.to_string())] { (s) } }
                    }
                }
                div { label for="pupil" { "Pupil" } input #pupil name="pupil" value=(v(&q.pupil)); }
            }
            button type="submit" { "Filter" }
        }
        p {
            (list.len()) " alerts. "
            a href="/alerts/exclusions" { "Exclusions" } " · " a href="/lexicons" { "Lexicons" }
        }
        div.table-wrap { table {
            thead { tr { th { "#" } th { "Raised" } th { "Pupil" } th { "Group" } th { "Theme" } th { "Severity" } th { "Found in" } th { "Hits" } th { "State" } th { "Sent" } } }
            tbody { @for a in &list { tr {
                td { a href={ "/alerts/" (a.id) } { (a.id) } }
                td { (when(a.created_us, tz)) }
                td { (a.subject) }
                td { (a.group.as_deref().unwrap_or("")) }
                td { (theme_label(&a.theme)) }
                td { (severity_tag(a.severity)) }
                td { (a.source) }
                td { (a.hits) }
                td { (state_tag(a.state)) }
                td { (a.notified_us.map(|t| when(t, tz)).unwrap_or_default()) }
            } } }
        } }
    };
    Ok(page(&who, "Safeguarding alerts", body).into_response())
}

pub async fn alert_page(State(console): St, who: Signed, Path(id): Path<i64>) -> PageResult {
    who.require(Permission::ViewAlerts)?;
    let view = read_alert(&console, &who, id).await?;
    let tz = &console.options.timezone;
    let a = &view.alert;
    let body = html! {
        div.card {
            dl {
                dt { "Pupil" } dd { (a.subject) @if let Some(g) = &a.group { " (" (g) ")" } }
                dt { "Theme" } dd { (theme_label(&a.theme)) }
                dt { "Severity" } dd { (severity_tag(a.severity)) }
                dt { "State" } dd { (state_tag(a.state)) }
                dt { "Raised" } dd { (when(a.created_us, tz)) " · last hit " (when(a.last_us, tz)) " · " (a.hits) " hits" }
                dt { "Found in" } dd { (a.source) " by the rule " code { (a.rule) } }
                dt { "Text" } dd.url { (a.excerpt) }
                @if let Some(u) = &a.url { dt { "Address" } dd.url { (u) } }
                @if let Some(r) = &a.event_ref { dt { "Event" } dd { code { (r) } } }
                dt { "Sent to contacts" } dd { (a.notified_us.map(|t| when(t, tz)).unwrap_or_else(|| "no".into())) }
            }
        }
        h2 { "Triage" }
        @if who.role.can(Permission::TriageAlerts) {
            form.card method="post" action={ "/alerts/" (a.id) "/triage" } {
                (csrf_field(&who))
                input type="hidden" name="from" value=(a.state.as_str());
                div.grid-form {
                    div {
                        label for="to" { "Move to" }
                        select #to name="to" {
                            option value=(a.state.as_str()) { "Keep as " (a.state.label()) " (a note only)" }
                            @for s in AlertState::ALL { @if a.state.may_become(s) { option value=(s.as_str()) { (s.label()) } } }
                        }
                    }
                }
                label for="note" { "Note (required: what you did and why)" }
                textarea #note name="note" required rows="3" {}
                button type="submit" { "Save" }
                @if a.state != AlertState::Escalated {
                    p.muted { "Escalating records that this needs safeguarding action; the alert then stays escalated." }
                }
            }
        }
        @if view.notes.is_empty() { p.muted { "No notes yet." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Who" } th { "From" } th { "To" } th { "Note" } } }
                tbody { @for n in &view.notes { tr {
                    td { (when(n.at_us, tz)) } td { (n.author) } td { (n.from_state.label()) } td { (n.to_state.label()) } td { (n.note) }
                } } }
            } }
        }
        h2 { "Browsing an hour either side" }
        p.muted { (view.context.len()) " requests, newest first." }
        (events_table(&console, &view.context))
    };
    Ok(page(&who, &format!("Alert {}", a.id), body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TriageForm {
    #[serde(default)]
    csrf: String,
    from: String,
    to: String,
    #[serde(default)]
    note: String,
}

fn state_named(s: &str) -> Result<AlertState, ConsoleError> {
    AlertState::parse(s).ok_or_else(|| ConsoleError::BadRequest(format!("{s:?} is not a state")))
}

pub async fn triage_form(
    State(console): St,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<TriageForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::TriageAlerts)?;
    triage(
        &console,
        &who,
        id,
        state_named(&form.from)?,
        state_named(&form.to)?,
        form.note,
    )
    .await?;
    Ok(redirect(&format!("/alerts/{id}")))
}

// ---- exclusions ----------------------------------------------------------------

pub async fn exclusions_page(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewAlerts)?;
    let list: Vec<Exclusion> = console.db(|db| alerts::exclusions(db, None)).await?;
    let tz = &console.options.timezone;
    let groups: Vec<String> = console.engine.snapshot().group_names();
    let now = now_us();
    let body = html! {
        p.muted { "An exclusion stops alerts on a word for a group and a time, such as \"isis\" for a Year 7 Egyptology project until half term. Hits it covers are not stored." }
        div.table-wrap { table {
            thead { tr { th { "Word" } th { "Theme" } th { "Group" } th { "From" } th { "Until" } th { "Reason" } th { "Set by" } th { "" } } }
            tbody { @for x in &list { tr {
                td { (x.exclusion.term) }
                td { (x.exclusion.theme.as_deref().map(theme_label).unwrap_or("any")) }
                td { (x.exclusion.group.as_deref().unwrap_or("any")) }
                td { (when(x.exclusion.from_us, tz)) }
                td { (when(x.exclusion.until_us, tz)) }
                td { (x.exclusion.reason) }
                td { (x.created_by) }
                td {
                    @if let Some(t) = x.ended_us { span.muted { "ended " (when(t, tz)) " by " (x.ended_by.as_deref().unwrap_or("")) } }
                    @else if x.exclusion.until_us <= now { span.muted { "past" } }
                    @else if who.role.can(Permission::TriageAlerts) {
                        form method="post" action={ "/alerts/exclusions/" (x.id) "/end" } { (csrf_field(&who)) button.secondary type="submit" { "End now" } }
                    }
                }
            } } }
        } }
        @if who.role.can(Permission::TriageAlerts) {
            h2 { "New exclusion" }
            form.card method="post" action="/alerts/exclusions" {
                (csrf_field(&who))
                div.grid-form {
                    div { label for="term" { "Word or phrase" } input #term name="term" required; }
                    div {
                        label for="theme" { "Theme" }
                        select #theme name="theme" { option value="" { "Any" } @for t in THEMES { option value=(t) { (theme_label(t)) } } }
                    }
                    div {
                        label for="group" { "Group" }
                        select #group name="group" { option value="" { "Any" } @for g in &groups { option value=(g) { (g) } } }
                    }
                    div { label for="from" { "From" } input #from name="from" type="date" required value=(crate::views::local_input(now, tz).get(..10).unwrap_or("")); }
                    div { label for="until" { "Until (not included)" } input #until name="until" type="date" required; }
                }
                label for="reason" { "Reason" }
                input #reason name="reason" required;
                button type="submit" { "Add exclusion" }
            }
        }
    };
    Ok(page(&who, "Alert exclusions", body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ExclusionForm {
    #[serde(default)]
    csrf: String,
    term: String,
    #[serde(default)]
    theme: String,
    #[serde(default)]
    group: String,
    from: String,
    until: String,
    reason: String,
}

pub async fn add_exclusion(
    State(console): St,
    who: Signed,
    Form(form): Form<ExclusionForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::TriageAlerts)?;
    let tz = &console.options.timezone;
    let bad = |m: String| ConsoleError::BadRequest(m);
    let term = form.term.trim().to_string();
    if tutela_monitor::normalise(&term).trim().chars().count() < 2 {
        return Err(bad("the word needs at least two letters".into()));
    }
    let theme = Some(form.theme.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(t) = &theme {
        if !THEMES.contains(&t.as_str()) {
            return Err(bad(format!("{t:?} is not a theme")));
        }
    }
    let group = Some(form.group.trim().to_string()).filter(|g| !g.is_empty());
    let exclusion = NewExclusion {
        term,
        theme,
        group,
        from_us: parse_when(&form.from, tz).map_err(bad)?,
        until_us: parse_when(&form.until, tz).map_err(bad)?,
        reason: form.reason.trim().chars().take(500).collect(),
    };
    if exclusion.until_us <= exclusion.from_us {
        return Err(bad("it must end after it starts".into()));
    }
    if exclusion.reason.is_empty() {
        return Err(bad("give a reason".into()));
    }
    let actor = who.actor();
    console
        .db(move |db| {
            let id = alerts::add_exclusion(db, &exclusion, &actor, now_us())?;
            db.append_audit(&audit(
                actor,
                "exclusion.add",
                format!("exclusion:{id}"),
                None,
                serde_json::to_string(&exclusion).ok(),
                Some(exclusion.reason.clone()),
            ))?;
            Ok(id)
        })
        .await?;
    console.reload_monitor();
    Ok(redirect("/alerts/exclusions"))
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn end_exclusion(
    State(console): St,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::TriageAlerts)?;
    let actor = who.actor();
    let ended = console
        .db(move |db| {
            let ended = alerts::end_exclusion(db, id, &actor, now_us())?;
            if ended {
                db.append_audit(&audit(
                    actor,
                    "exclusion.end",
                    format!("exclusion:{id}"),
                    None,
                    None,
                    None,
                ))?;
            }
            Ok(ended)
        })
        .await?;
    if !ended {
        return Err(ConsoleError::BadRequest(
            "that exclusion has already ended".into(),
        ));
    }
    console.reload_monitor();
    Ok(redirect("/alerts/exclusions"))
}

// ---- lexicons --------------------------------------------------------------------

/// The lexicon files in force, and last the spellings file: the built-in
/// text, or the newest edit.
async fn lexicon_files(
    console: &Console,
) -> Result<Vec<(String, String, Option<LexiconVersion>)>, ConsoleError> {
    let edited = console.db(alerts::edited_lexicons).await?;
    Ok(tutela_monitor::lexicon::built_in()
        .into_iter()
        .chain([(SPELLINGS_FILE, tutela_monitor::spelling::BUILT_IN)])
        .map(|(file, text)| {
            let edit = edited.iter().find(|v| v.file == file).cloned();
            let text = edit
                .as_ref()
                .map(|v| v.text.clone())
                .unwrap_or_else(|| text.to_string());
            (file.to_string(), text, edit)
        })
        .collect())
}

fn edited_by(edit: &Option<LexiconVersion>, tz: &jiff::tz::TimeZone) -> Markup {
    html! {
        @if let Some(e) = edit { (e.edited_by) " " span.muted { (when(e.edited_us, tz)) } }
        @else { span.muted { "as shipped" } }
    }
}

pub async fn lexicons_page(State(console): St, who: Signed) -> PageResult {
    who.require(Permission::ViewAlerts)?;
    let files = lexicon_files(&console).await?;
    let tz = &console.options.timezone;
    let spellings = files.iter().find(|(f, _, _)| f == SPELLINGS_FILE);
    let body = html! {
        p.muted { "Each theme has a lexicon per language. Rules are phrases or combinations with a severity from 1 to 5; alerts start at 3. Negative contexts stop a rule where it means something else. Every edit is kept and audited." }
        @if let Some((file, _, edit)) = spellings {
            p {
                a href={ "/lexicons/" (file) } { "Spellings" }
                ": the other ways children write a word (text-speak, misspellings, new slang), for every lexicon at once. Edited: "
                (edited_by(edit, tz))
            }
        }
        div.table-wrap { table {
            thead { tr { th { "File" } th { "Theme" } th { "Language" } th { "Rules" } th { "Edited" } } }
            tbody { @for (file, text, edit) in files.iter().filter(|(f, _, _)| f != SPELLINGS_FILE) {
                @let parsed = tutela_monitor::Lexicon::parse(file, text).ok();
                tr {
                    td { a href={ "/lexicons/" (file) } { (file) } }
                    td { (parsed.as_ref().map(|l| theme_label(&l.theme).to_string()).unwrap_or_default()) }
                    td { (parsed.as_ref().map(|l| l.language.clone()).unwrap_or_default()) }
                    td { (parsed.as_ref().map(|l| l.rules.len()).unwrap_or(0)) }
                    td { (edited_by(edit, tz)) }
                }
            } }
        } }
    };
    Ok(page(&who, "Lexicons", body).into_response())
}

fn lexicon_editor(
    console: &Console,
    who: &HalfSigned,
    file: &str,
    text: &str,
    history: &[LexiconVersion],
    error: Option<&str>,
) -> Markup {
    let tz = &console.options.timezone;
    let what = if file == SPELLINGS_FILE {
        "The spellings (TOML)"
    } else {
        "The lexicon (TOML)"
    };
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if who.role.can(Permission::EditLexicons) {
            form.card method="post" action={ "/lexicons/" (file) } {
                (csrf_field(who))
                label for="text" { (what) }
                textarea #text name="text" rows="30" spellcheck="false" { (text) }
                button type="submit" { "Save" }
                p.muted { "It is checked before it is saved, and in force within seconds." }
            }
        } @else {
            pre { (text) }
        }
        h2 { "Earlier versions" }
        @if history.is_empty() { p.muted { "As shipped; never edited." } }
        @else { ul { @for v in history { li { (when(v.edited_us, tz)) " by " (v.edited_by) } } } }
    }
}

fn lexicon_file(lang: &str, theme: &str) -> Result<String, ConsoleError> {
    let file = format!("{lang}/{theme}");
    if tutela_monitor::lexicon::built_in()
        .iter()
        .any(|(f, _)| *f == file)
    {
        Ok(file)
    } else {
        Err(ConsoleError::NotFound)
    }
}

/// The editor (or, for a deputy, the text) of a lexicon or the spellings.
async fn file_page(console: &Console, who: &Signed, file: String) -> PageResult {
    who.require(Permission::ViewAlerts)?;
    let files = lexicon_files(console).await?;
    let text = files
        .iter()
        .find(|(f, _, _)| *f == file)
        .map(|(_, t, _)| t.clone())
        .unwrap_or_default();
    let history = {
        let file = file.clone();
        console
            .db(move |db| alerts::lexicon_history(db, &file))
            .await?
    };
    let body = lexicon_editor(console, who, &file, &text, &history, None);
    Ok(page(who, &format!("Lexicon {file}"), body).into_response())
}

pub async fn lexicon_page(
    State(console): St,
    who: Signed,
    Path((lang, theme)): Path<(String, String)>,
) -> PageResult {
    let file = lexicon_file(&lang, &theme)?;
    file_page(&console, &who, file).await
}

pub async fn spellings_page(State(console): St, who: Signed) -> PageResult {
    file_page(&console, &who, SPELLINGS_FILE.to_string()).await
}

#[derive(Debug, Deserialize)]
pub struct LexiconForm {
    #[serde(default)]
    csrf: String,
    text: String,
}

pub async fn save_lexicon(
    State(console): St,
    who: Signed,
    Path((lang, theme)): Path<(String, String)>,
    Form(form): Form<LexiconForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::EditLexicons)?;
    let file = lexicon_file(&lang, &theme)?;
    // The file must stay the theme and language it is named for.
    let named_for = |file: &str, text: &str| {
        let l = tutela_monitor::Lexicon::parse(file, text).map_err(|e| e.to_string())?;
        let (want_lang, want_theme) = file.split_once('/').unwrap_or_default();
        if l.language != want_lang || format!("{}.toml", l.theme) != want_theme {
            return Err(format!(
                "this file is for theme {:?} in language {:?}",
                want_theme.trim_end_matches(".toml"),
                want_lang
            ));
        }
        Ok(())
    };
    save_file(&console, &who, file, form.text, named_for).await
}

pub async fn save_spellings(
    State(console): St,
    who: Signed,
    Form(form): Form<LexiconForm>,
) -> PageResult {
    who.check_csrf(&form.csrf)?;
    who.require(Permission::EditLexicons)?;
    save_file(
        &console,
        &who,
        SPELLINGS_FILE.to_string(),
        form.text,
        |_, _| Ok(()),
    )
    .await
}

/// Saves `text` as the new version of `file` if it passes `check` and the
/// whole set (every lexicon and the spellings) still compiles with it,
/// audits the edit and tells the monitor; otherwise shows the editor again
/// with the reason, and saves nothing.
async fn save_file(
    console: &Console,
    who: &Signed,
    file: String,
    text: String,
    check: impl FnOnce(&str, &str) -> Result<(), String>,
) -> PageResult {
    let text = text.replace("\r\n", "\n");
    let files = lexicon_files(console).await?;
    let before = files
        .iter()
        .find(|(f, _, _)| *f == file)
        .map(|(_, t, _)| t.clone());
    let checked = check(&file, &text).and_then(|()| {
        let edits: Vec<(String, String)> = files
            .iter()
            .map(|(f, t, _)| (f.clone(), if *f == file { text.clone() } else { t.clone() }))
            .collect();
        tutela_monitor::scanner_with_edits(&edits)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = checked {
        let history = {
            let file = file.clone();
            console
                .db(move |db| alerts::lexicon_history(db, &file))
                .await?
        };
        let body = lexicon_editor(
            console,
            who,
            &file,
            &text,
            &history,
            Some(&format!("Not saved: {e}")),
        );
        let mut r = page(who, &format!("Lexicon {file}"), body).into_response();
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    let actor = who.actor();
    let target = format!("/lexicons/{file}");
    console
        .db(move |db| {
            alerts::save_lexicon(db, &file, &text, &actor, now_us())?;
            db.append_audit(&audit(
                actor,
                "lexicon.edit",
                format!("lexicon:{file}"),
                before,
                Some(text),
                None,
            ))?;
            Ok(())
        })
        .await?;
    console.reload_monitor();
    Ok(redirect(&target))
}

// ---- API ---------------------------------------------------------------------------

type ApiResult = Result<Json<Value>, crate::api::ApiError>;

pub async fn api_alerts(
    State(console): St,
    who: ApiSigned,
    Query(q): Query<AlertListQuery>,
) -> ApiResult {
    who.require(Permission::ViewAlerts)?;
    let list = list_alerts(&console, q.filter()).await?;
    Ok(Json(serde_json::to_value(list).unwrap_or(Value::Null)))
}

pub async fn api_alert(State(console): St, who: ApiSigned, Path(id): Path<i64>) -> ApiResult {
    who.require(Permission::ViewAlerts)?;
    let view = read_alert(&console, &who, id).await?;
    Ok(Json(serde_json::json!({
        "alert": view.alert,
        "notes": view.notes,
        "context": view.context.iter().map(AccessEvent::to_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct TriageBody {
    from: AlertState,
    to: AlertState,
    note: String,
}

pub async fn api_triage(
    State(console): St,
    who: ApiSigned,
    Path(id): Path<i64>,
    Json(body): Json<TriageBody>,
) -> ApiResult {
    who.require(Permission::TriageAlerts)?;
    let note = triage(&console, &who, id, body.from, body.to, body.note).await?;
    Ok(Json(serde_json::to_value(note).unwrap_or(Value::Null)))
}
