//! What a notification says. A [`Notice`] names the pupil, the theme and
//! the severity and links to the console; it has no field for what the
//! pupil typed or saw, so no email or webhook can carry raw content.

use serde_json::json;
use tutela_monitor::theme_label;

/// One alert, as a notification tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub alert_id: i64,
    pub pupil: String,
    pub group: Option<String>,
    pub theme: String,
    pub severity: u8,
    /// Local time, for people (`2026-12-02 10:41`).
    pub when: String,
    /// Hits folded into the alert so far.
    pub hits: i64,
    /// `attempts` when raised by repeated blocked attempts.
    pub source: String,
    /// The alert in the console.
    pub link: String,
}

impl Notice {
    fn who(&self) -> String {
        match &self.group {
            Some(g) => format!("{} ({g})", self.pupil),
            None => self.pupil.clone(),
        }
    }

    fn what(&self) -> &'static str {
        if self.source == "attempts" {
            "repeated attempts to reach blocked content"
        } else {
            "online activity"
        }
    }

    pub fn subject(&self) -> String {
        format!(
            "Tutela alert {}: severity {}, {}, {}",
            self.alert_id,
            self.severity,
            theme_label(&self.theme),
            self.who()
        )
    }

    /// The email's text.
    pub fn text(&self) -> String {
        format!(
            "Tutela raised a safeguarding alert about {what}.\n\n\
             Pupil: {who}\nTheme: {theme}\nSeverity: {severity} of 5\nFirst seen: {when}\nHits so far: {hits}\n\n\
             Review it in the console (sign-in required):\n{link}\n\n\
             This message does not include what was searched for or seen; that is in the console.\n",
            what = self.what(),
            who = self.who(),
            theme = theme_label(&self.theme),
            severity = self.severity,
            when = self.when,
            hits = self.hits,
            link = self.link,
        )
    }

    /// A generic JSON webhook body.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "type": "tutela.alert",
            "alert_id": self.alert_id,
            "pupil": self.pupil,
            "group": self.group,
            "theme": self.theme,
            "theme_label": theme_label(&self.theme),
            "severity": self.severity,
            "source": self.source,
            "when": self.when,
            "hits": self.hits,
            "link": self.link,
        })
    }

    /// A Microsoft Teams incoming-webhook message card.
    pub fn teams(&self) -> serde_json::Value {
        json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": self.subject(),
            "themeColor": if self.severity >= 4 { "C50F1F" } else { "F7630C" },
            "title": self.subject(),
            "sections": [{
                "facts": [
                    {"name": "Pupil", "value": self.who()},
                    {"name": "Theme", "value": theme_label(&self.theme)},
                    {"name": "Severity", "value": format!("{} of 5", self.severity)},
                    {"name": "First seen", "value": self.when},
                ],
            }],
            "potentialAction": [{
                "@type": "OpenUri",
                "name": "Open in Tutela",
                "targets": [{"os": "default", "uri": self.link}],
            }],
        })
    }

    /// A Slack incoming-webhook message.
    pub fn slack(&self) -> serde_json::Value {
        // Slack reads <, > and & as markup in text.
        let plain = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let text = format!(
            "*{}*\nPupil: {}\nTheme: {}\nSeverity: {} of 5\n<{}|Open in Tutela>",
            plain(&self.subject()),
            plain(&self.who()),
            theme_label(&self.theme),
            self.severity,
            plain(&self.link),
        );
        json!({
            "text": plain(&self.subject()),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        })
    }

    /// The webhook body in `format` (`json`, `teams` or `slack`).
    pub fn webhook_body(&self, format: &str) -> serde_json::Value {
        match format {
            "teams" => self.teams(),
            "slack" => self.slack(),
            _ => self.json(),
        }
    }
}

/// The weekly digest: counts and a list of alerts, no content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    pub week: String,
    /// Alerts raised in the week.
    pub alerts: Vec<Notice>,
    /// Alerts still waiting for someone, from any week.
    pub open: usize,
    pub console: String,
}

impl Digest {
    pub fn subject(&self) -> String {
        format!(
            "Tutela weekly safeguarding digest, week of {}: {} alerts",
            self.week,
            self.alerts.len()
        )
    }

    pub fn text(&self) -> String {
        let mut by_theme: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for a in &self.alerts {
            let e = by_theme.entry(theme_label(&a.theme)).or_default();
            e.0 += 1;
            if a.severity >= 4 {
                e.1 += 1;
            }
        }
        let mut out = format!(
            "Safeguarding alerts raised in the week of {}: {}\nStill waiting for review (any week): {}\n\n",
            self.week,
            self.alerts.len(),
            self.open
        );
        if by_theme.is_empty() {
            out.push_str("No alerts were raised this week.\n");
        } else {
            out.push_str("By theme (all / severity 4 or 5):\n");
            for (theme, (all, high)) in &by_theme {
                out.push_str(&format!("  {theme}: {all} / {high}\n"));
            }
            out.push_str("\nAlerts:\n");
            for a in &self.alerts {
                out.push_str(&format!(
                    "  #{} {} severity {} {} - {}\n",
                    a.alert_id,
                    a.when,
                    a.severity,
                    theme_label(&a.theme),
                    a.who()
                ));
            }
        }
        out.push_str(&format!(
            "\nThe alerts, their context and their triage are in the console:\n{}/alerts\n",
            self.console
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            alert_id: 7,
            pupil: "amy <b>".into(),
            group: Some("year-9".into()),
            theme: "suicide".into(),
            severity: 5,
            when: "2026-12-02 10:41".into(),
            hits: 2,
            source: "search".into(),
            link: "https://tutela.school/alerts/7".into(),
        }
    }

    #[test]
    fn every_format_names_pupil_theme_severity_and_link() {
        let n = notice();
        for body in [
            n.text(),
            n.json().to_string(),
            n.teams().to_string(),
            n.subject(),
        ] {
            assert!(body.contains("amy"), "{body}");
            assert!(body.contains("uicide"), "{body}");
            assert!(body.contains('5'), "{body}");
        }
        assert!(n.text().contains("https://tutela.school/alerts/7"));
        let slack = n.slack().to_string();
        assert!(slack.contains("amy &amp;lt;b&amp;gt;") || slack.contains("amy &lt;b&gt;"));
        assert!(!slack.contains("amy <b>"));
        assert_eq!(n.webhook_body("teams")["@type"], "MessageCard");
        assert_eq!(n.webhook_body("nonsense")["type"], "tutela.alert");
    }

    #[test]
    fn the_digest_counts_by_theme() {
        let d = Digest {
            week: "2026-11-30".into(),
            alerts: vec![notice(), notice()],
            open: 3,
            console: "https://tutela.school".into(),
        };
        let text = d.text();
        assert!(text.contains("Suicide: 2 / 2"), "{text}");
        assert!(text.contains("https://tutela.school/alerts"));
        assert!(Digest::default().text().contains("No alerts"));
    }
}
