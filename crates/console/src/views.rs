//! The pages' frame: layout, navigation, the stylesheet, and small helpers
//! for times and links. maud escapes every value spliced into markup;
//! `PreEscaped` is used only for markup this crate writes itself.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::auth::HalfSigned;
use crate::roles::Permission;

const STYLESHEET: &str = include_str!("../assets/style.css");

pub async fn stylesheet() -> Response {
    let mut r = STYLESHEET.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

pub fn redirect(to: &str) -> Response {
    // Only our own paths are ever redirected to.
    let to = if to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\") {
        to
    } else {
        "/"
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A `next=` target that stays on this console.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

pub fn query_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A time for people, in the school's time zone.
pub fn when(time_us: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_microsecond(time_us)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// The value of a `datetime-local` input for a time.
pub fn local_input(time_us: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_microsecond(time_us)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A time as typed in a form: RFC 3339, a date (its midnight), or a
/// `datetime-local` value, in the school's time zone.
pub fn parse_when(text: &str, tz: &jiff::tz::TimeZone) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    let civil = text.parse::<jiff::civil::DateTime>().or_else(|_| {
        text.parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil {
        Ok(dt) => dt
            .to_zoned(tz.clone())
            .map(|z| z.timestamp().as_microsecond())
            .map_err(|e| format!("{text:?}: {e}")),
        Err(_) => Err(format!(
            "{text:?} is not a time: use a date like 2026-12-01 or a date and time like 2026-12-01T14:30"
        )),
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Tutela" }
            link rel="stylesheet" href="/assets/style.css";
        }
    }
}

/// A page for someone not signed in.
pub fn bare_page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body.bare {
                    main.narrow {
                        p.brand { "Tutela" }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

pub fn error_body(title: &str, message: &str) -> Markup {
    html! {
        h1 { (title) }
        p { (message) }
        p { a href="/" { "Back to the console" } }
    }
}

/// A page in the console's frame, with the navigation this role may use.
pub fn page(who: &HalfSigned, title: &str, body: Markup) -> Html<String> {
    let links: [(&str, &str, Permission); 11] = [
        ("/", "Overview", Permission::ViewSummary),
        ("/alerts", "Alerts", Permission::ViewAlerts),
        ("/logs", "Log search", Permission::SearchLogs),
        ("/check", "Check a site", Permission::CheckUrl),
        ("/policies", "Policies", Permission::ViewPolicy),
        ("/unblocks", "Change control", Permission::ViewChanges),
        (
            "/unblocks/new",
            "Request an unblock",
            Permission::RequestUnblock,
        ),
        ("/users", "Users", Permission::ViewUsers),
        ("/network", "Networks", Permission::ViewUsers),
        ("/audit", "Audit log", Permission::ViewAudit),
        (
            "/devices/setup",
            "Device set-up",
            Permission::ViewDeviceSetup,
        ),
    ];
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    header.top {
                        a.brand href="/" { "Tutela" }
                        nav {
                            @for (href, label, permission) in links {
                                @if who.role.can(permission) {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        form.signout method="post" action="/logout" {
                            span.who { (who.user.display_name.as_deref().unwrap_or(&who.user.username)) " · " (who.role.title()) }
                            input type="hidden" name="csrf" value=(who.session.csrf_token);
                            button type="submit" { "Sign out" }
                        }
                    }
                    main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The CSRF field every signed-in form carries.
pub fn csrf_field(who: &HalfSigned) -> Markup {
    html! { input type="hidden" name="csrf" value=(who.session.csrf_token); }
}

/// A horizontal bar chart as inline SVG: one bar per (label, value).
pub fn bar_chart(rows: &[(String, u64)], unit: &str) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let row_h = 22u64;
    let height = row_h * rows.len() as u64 + 4;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 600 " (height) } role="img" aria-label={ "Chart of " (unit) } {
            @for (i, (label, value)) in rows.iter().enumerate() {
                @let y = i as u64 * row_h + 2;
                @let w = 360 * value / max;
                text x="0" y=(y + 15) font-size="13" { (truncate(label, 28)) }
                rect x="200" y=(y + 3) width=(w.max(1)) height="14" rx="2" {}
                text x=(205 + w) y=(y + 15) font-size="12" { (value) }
            }
        }
    }
}

pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_console() {
        assert_eq!(safe_next(Some("/logs?user=a")), "/logs?user=a");
        for hostile in [
            "//evil.test/",
            "https://evil.test/",
            "/\\evil.test",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile}");
        }
        let r = redirect("//evil.test");
        assert_eq!(r.headers()[header::LOCATION], "/");
    }

    #[test]
    fn form_times_are_read_in_the_school_zone() {
        let tz = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let summer = parse_when("2026-07-01T09:00", &tz).unwrap();
        assert_eq!(
            summer,
            "2026-07-01T08:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond()
        );
        assert_eq!(
            parse_when("2026-12-01", &tz).unwrap(),
            "2026-12-01T00:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond()
        );
        assert!(parse_when("yesterday; DROP", &tz).is_err());
        assert_eq!(local_input(summer, &tz), "2026-07-01T09:00");
    }
}
