//! `[monitor]` in the configuration file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the monitor scans and whom its alerts reach.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// Scan and alert at all.
    pub enabled: bool,
    /// Hits below this severity are not alerts.
    pub alert_severity: u8,
    /// A pupil's hits on one theme within this long of the last fold into
    /// one alert.
    pub dedup_window: String,
    /// Blocked attempts on one theme that raise an alert...
    pub escalation_attempts: usize,
    /// ...within this long.
    pub escalation_window: String,
    /// The severity of an alert raised by attempts, per theme; themes not
    /// named here do not escalate.
    pub escalation_severity: BTreeMap<String, u8>,
    /// Blocked list categories and the theme an attempt on them is.
    pub category_themes: BTreeMap<String, String>,
    /// Bytes of each page's text that are scanned.
    pub page_text_limit: usize,
    /// When the school is open, in `policy.timezone`: `Mon-Fri 08:00-17:00`.
    pub school_hours: String,
    /// When the weekly digest goes: `Mon 07:00`.
    pub digest: String,
    /// The console's address as staff reach it, for links.
    pub console_url: Option<String>,
    pub email: Option<EmailSettings>,
    pub contacts: Vec<Contact>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        let themes = |pairs: &[(&str, u8)]| {
            pairs
                .iter()
                .map(|(t, s)| (t.to_string(), *s))
                .collect::<BTreeMap<_, _>>()
        };
        let categories = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(c, t)| (c.to_string(), t.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        MonitorSettings {
            enabled: true,
            alert_severity: 3,
            dedup_window: "1h".into(),
            escalation_attempts: 3,
            escalation_window: "30m".into(),
            // Attempts on the themes where a child is at risk go to the DSL
            // at once; the others are seen in the console and the digest.
            escalation_severity: themes(&[
                ("self-harm", 5),
                ("suicide", 5),
                ("eating-disorders", 4),
                ("grooming", 5),
                ("radicalisation", 4),
                ("weapons-violence", 4),
                ("sexual-content", 3),
                ("drugs", 3),
                ("hate", 3),
                ("bullying", 3),
            ]),
            // UT1's names; a school's own lists named after a theme
            // (`self-harm`) count as that theme without being listed.
            category_themes: categories(&[
                ("adult", "sexual-content"),
                ("porn", "sexual-content"),
                ("mixed_adult", "sexual-content"),
                ("drugs", "drugs"),
                ("drogue", "drugs"),
                ("violence", "weapons-violence"),
                ("aggressive", "weapons-violence"),
                ("agressif", "weapons-violence"),
                ("dangerous_material", "weapons-violence"),
            ]),
            page_text_limit: 256 * 1024,
            school_hours: "Mon-Fri 08:00-17:00".into(),
            digest: "Mon 07:00".into(),
            console_url: None,
            email: None,
            contacts: Vec::new(),
        }
    }
}

/// The SMTP server notifications go through.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub server: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// `starttls` (the default), `tls`, or `none` (a relay on the same
    /// host or network only).
    #[serde(default = "default_security")]
    pub security: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
}

fn default_port() -> u16 {
    587
}

fn default_security() -> String {
    "starttls".into()
}

/// Someone alerts go to.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub webhook: Option<String>,
    /// `json` (the default), `teams` or `slack`.
    #[serde(default = "default_format")]
    pub webhook_format: String,
    /// `in-hours`, `out-of-hours` or `always` (the default).
    #[serde(default = "default_when")]
    pub when: String,
    /// Alerts of this severity or more are sent at once.
    #[serde(default = "default_immediate")]
    pub immediate: u8,
    /// Sent the weekly digest.
    #[serde(default)]
    pub digest: bool,
}

fn default_format() -> String {
    "json".into()
}

fn default_when() -> String {
    "always".into()
}

fn default_immediate() -> u8 {
    4
}
