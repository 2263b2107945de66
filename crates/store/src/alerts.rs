//! Safeguarding alerts and their triage: what the monitor raised, folded
//! per pupil and theme within a window so one bad evening is one alert, not
//! fifty; the notes on every step (append-only, kept by triggers); the
//! exclusions a DSL sets with a scope and an end; lexicons edited in the
//! console (every version kept); and which weekly digests were sent.
//!
//! The callers audit who read and changed what.

use crate::{Backend, SqlValue, StoreError};

/// Where an alert stands in triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    New,
    InReview,
    FalsePositive,
    NoFurtherAction,
    Escalated,
}

impl AlertState {
    pub const ALL: [AlertState; 5] = [
        AlertState::New,
        AlertState::InReview,
        AlertState::FalsePositive,
        AlertState::NoFurtherAction,
        AlertState::Escalated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::New => "new",
            AlertState::InReview => "in_review",
            AlertState::FalsePositive => "false_positive",
            AlertState::NoFurtherAction => "no_further_action",
            AlertState::Escalated => "escalated",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            AlertState::New => "New",
            AlertState::InReview => "In review",
            AlertState::FalsePositive => "False positive",
            AlertState::NoFurtherAction => "No further action",
            AlertState::Escalated => "Escalated",
        }
    }

    /// Still waiting for someone: new hits fold into it.
    pub fn is_open(self) -> bool {
        matches!(self, AlertState::New | AlertState::InReview)
    }

    /// Whether triage may move an alert from `self` to `to`. Nothing goes
    /// back to new; a closed alert may be reopened for review; an escalated
    /// one has left the monitor for the safeguarding record and stays.
    pub fn may_become(self, to: AlertState) -> bool {
        self != to && to != AlertState::New && self != AlertState::Escalated
    }
}

/// What a hit found, ready to become (or fold into) an alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewAlert {
    pub time_us: i64,
    /// The pupil: a username, or the device's address when unknown.
    pub subject: String,
    pub group: Option<String>,
    pub theme: String,
    pub severity: u8,
    pub rule: String,
    /// `search`, `url`, `title`, `page` or `attempts`.
    pub source: String,
    /// The normalised text around the hit (hostile: escape it).
    pub excerpt: String,
    pub url: Option<String>,
    pub event_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    pub id: i64,
    pub created_us: i64,
    pub last_us: i64,
    pub subject: String,
    pub group: Option<String>,
    pub theme: String,
    pub severity: u8,
    pub rule: String,
    pub source: String,
    pub excerpt: String,
    pub url: Option<String>,
    pub event_ref: Option<String>,
    /// Hits folded into this alert.
    pub hits: i64,
    pub state: AlertState,
    /// When its contacts were told at once, if they were.
    pub notified_us: Option<i64>,
}

/// What [`raise`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alert.
    New(i64),
    /// Folded into an open alert; `rose` when the hit raised its severity.
    Folded { id: i64, rose: bool },
}

impl Raised {
    pub fn id(self) -> i64 {
        match self {
            Raised::New(id) | Raised::Folded { id, .. } => id,
        }
    }
}

const COLUMNS: &str =
    "id, created_us, last_us, subject, group_name, theme, severity, rule, source, \
     excerpt, url, event_ref, hits, state, notified_us";

fn alert_from(r: &[SqlValue]) -> Result<Alert, StoreError> {
    let bad = || StoreError::Invalid("unexpected alerts row".into());
    let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
    let int = |i: usize| r.get(i).and_then(SqlValue::int);
    Ok(Alert {
        id: int(0).ok_or_else(bad)?,
        created_us: int(1).ok_or_else(bad)?,
        last_us: int(2).ok_or_else(bad)?,
        subject: text(3).ok_or_else(bad)?,
        group: text(4),
        theme: text(5).ok_or_else(bad)?,
        severity: int(6).and_then(|s| u8::try_from(s).ok()).ok_or_else(bad)?,
        rule: text(7).ok_or_else(bad)?,
        source: text(8).ok_or_else(bad)?,
        excerpt: text(9).ok_or_else(bad)?,
        url: text(10),
        event_ref: text(11),
        hits: int(12).ok_or_else(bad)?,
        state: text(13)
            .and_then(|s| AlertState::parse(&s))
            .ok_or_else(bad)?,
        notified_us: int(14),
    })
}

/// Raises an alert, or folds the hit into the pupil's open alert on the
/// same theme whose last hit is within `window_us`. A higher severity
/// replaces what the alert shows, so the DSL sees the worst of it.
pub fn raise(db: &mut dyn Backend, hit: &NewAlert, window_us: i64) -> Result<Raised, StoreError> {
    let open = db.rows(
        "SELECT id, severity FROM alerts WHERE subject = ? AND theme = ? AND last_us >= ? \
         AND state IN ('new', 'in_review') ORDER BY id DESC LIMIT 1",
        &[
            hit.subject.as_str().into(),
            hit.theme.as_str().into(),
            (hit.time_us - window_us).into(),
        ],
    )?;
    if let Some(row) = open.first() {
        let bad = || StoreError::Invalid("unexpected alerts row".into());
        let id = row.first().and_then(SqlValue::int).ok_or_else(bad)?;
        let severity = row.get(1).and_then(SqlValue::int).ok_or_else(bad)?;
        let rose = i64::from(hit.severity) > severity;
        if rose {
            db.execute(
                "UPDATE alerts SET last_us = CASE WHEN last_us > ? THEN last_us ELSE ? END, \
                 hits = hits + 1, severity = ?, rule = ?, source = ?, excerpt = ?, url = ?, event_ref = ? \
                 WHERE id = ?",
                &[
                    hit.time_us.into(),
                    hit.time_us.into(),
                    i64::from(hit.severity).into(),
                    hit.rule.as_str().into(),
                    hit.source.as_str().into(),
                    hit.excerpt.as_str().into(),
                    hit.url.clone().into(),
                    hit.event_ref.clone().into(),
                    id.into(),
                ],
            )?;
        } else {
            db.execute(
                "UPDATE alerts SET last_us = CASE WHEN last_us > ? THEN last_us ELSE ? END, \
                 hits = hits + 1 WHERE id = ?",
                &[hit.time_us.into(), hit.time_us.into(), id.into()],
            )?;
        }
        return Ok(Raised::Folded { id, rose });
    }
    let rows = db.rows(
        "INSERT INTO alerts (created_us, last_us, subject, group_name, theme, severity, rule, source, \
         excerpt, url, event_ref, hits, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'new') RETURNING id",
        &[
            hit.time_us.into(),
            hit.time_us.into(),
            hit.subject.as_str().into(),
            hit.group.clone().into(),
            hit.theme.as_str().into(),
            i64::from(hit.severity).into(),
            hit.rule.as_str().into(),
            hit.source.as_str().into(),
            hit.excerpt.as_str().into(),
            hit.url.clone().into(),
            hit.event_ref.clone().into(),
        ],
    )?;
    crate::returned_id(&rows).map(Raised::New)
}

/// Records that the alert's contacts were told.
pub fn mark_notified(db: &mut dyn Backend, id: i64, now_us: i64) -> Result<(), StoreError> {
    db.execute(
        "UPDATE alerts SET notified_us = ? WHERE id = ?",
        &[now_us.into(), id.into()],
    )?;
    Ok(())
}

pub fn get(db: &mut dyn Backend, id: i64) -> Result<Option<Alert>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?");
    db.rows(&sql, &[id.into()])?
        .first()
        .map(|r| alert_from(r))
        .transpose()
}

/// Which alerts to list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    /// Only those still waiting (new or in review).
    #[serde(default)]
    pub open: bool,
    pub theme: Option<String>,
    pub min_severity: Option<u8>,
    pub subject: Option<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    /// 0: 500.
    #[serde(default)]
    pub limit: usize,
}

/// Newest first.
pub fn list(db: &mut dyn Backend, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1=1");
    let mut values: Vec<SqlValue> = Vec::new();
    if let Some(s) = filter.state {
        sql.push_str(" AND state = ?");
        values.push(s.as_str().into());
    }
    if filter.open {
        sql.push_str(" AND state IN ('new', 'in_review')");
    }
    if let Some(t) = filter.theme.as_deref().filter(|t| !t.is_empty()) {
        sql.push_str(" AND theme = ?");
        values.push(t.into());
    }
    if let Some(s) = filter.min_severity {
        sql.push_str(" AND severity >= ?");
        values.push(i64::from(s).into());
    }
    if let Some(s) = filter.subject.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND subject = ?");
        values.push(s.into());
    }
    if let Some(t) = filter.since_us {
        sql.push_str(" AND last_us >= ?");
        values.push(t.into());
    }
    if let Some(t) = filter.until_us {
        sql.push_str(" AND created_us < ?");
        values.push(t.into());
    }
    let limit = match filter.limit {
        0 => 500,
        n => n.min(5_000),
    };
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    db.rows(&sql, &values)?
        .iter()
        .map(|r| alert_from(r))
        .collect()
}

/// One step of triage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertNote {
    pub id: i64,
    pub alert_id: i64,
    pub at_us: i64,
    pub author: String,
    pub from_state: AlertState,
    pub to_state: AlertState,
    pub note: String,
}

/// Why a triage step was refused.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("no alert {0}")]
    NotFound(i64),
    #[error("an alert that is {from} cannot become {to}")]
    NotAllowed {
        from: &'static str,
        to: &'static str,
    },
    #[error("someone else moved this alert first; it is now {0}")]
    Moved(&'static str),
    #[error("write a note saying why")]
    NoNote,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Moves an alert from the state the person saw (`from`) to `to`, with
/// their note; note and state change are kept together or not at all.
/// A note with no change of state (`to == from`) is allowed and kept.
pub fn triage(
    db: &mut dyn Backend,
    id: i64,
    from: AlertState,
    to: AlertState,
    author: &str,
    note: &str,
    now_us: i64,
) -> Result<AlertNote, TriageError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(TriageError::NoNote);
    }
    if from != to && !from.may_become(to) {
        return Err(TriageError::NotAllowed {
            from: from.label(),
            to: to.label(),
        });
    }
    // A refusal found inside the transaction changed nothing, so it commits.
    crate::in_transaction(db, |db| {
        let current = get(db, id)?;
        Ok(match current {
            None => Err(TriageError::NotFound(id)),
            Some(a) if a.state != from => Err(TriageError::Moved(a.state.label())),
            Some(_) => {
                db.execute(
                    "UPDATE alerts SET state = ? WHERE id = ? AND state = ?",
                    &[to.as_str().into(), id.into(), from.as_str().into()],
                )?;
                let rows = db.rows(
                    "INSERT INTO alert_notes (alert_id, at_us, author, from_state, to_state, note) \
                     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    &[
                        id.into(),
                        now_us.into(),
                        author.into(),
                        from.as_str().into(),
                        to.as_str().into(),
                        note.into(),
                    ],
                )?;
                Ok(AlertNote {
                    id: crate::returned_id(&rows)?,
                    alert_id: id,
                    at_us: now_us,
                    author: author.to_string(),
                    from_state: from,
                    to_state: to,
                    note: note.to_string(),
                })
            }
        })
    })?
}

/// Oldest first.
pub fn notes(db: &mut dyn Backend, alert_id: i64) -> Result<Vec<AlertNote>, StoreError> {
    let bad = || StoreError::Invalid("unexpected alert_notes row".into());
    db.rows(
        "SELECT id, alert_id, at_us, author, from_state, to_state, note FROM alert_notes \
         WHERE alert_id = ? ORDER BY id",
        &[alert_id.into()],
    )?
    .iter()
    .map(|r| {
        let text = |i: usize| r.get(i).and_then(SqlValue::text);
        let int = |i: usize| r.get(i).and_then(SqlValue::int);
        Ok(AlertNote {
            id: int(0).ok_or_else(bad)?,
            alert_id: int(1).ok_or_else(bad)?,
            at_us: int(2).ok_or_else(bad)?,
            author: text(3).ok_or_else(bad)?.to_string(),
            from_state: text(4).and_then(AlertState::parse).ok_or_else(bad)?,
            to_state: text(5).and_then(AlertState::parse).ok_or_else(bad)?,
            note: text(6).ok_or_else(bad)?.to_string(),
        })
    })
    .collect()
}

/// A word the monitor should not alert on, for some groups and themes, for
/// a while: "isis" for Year 7's Egyptology project until half term.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewExclusion {
    /// Compared, normalised, with the rule and the text around a hit.
    pub term: String,
    /// `None`: every theme.
    pub theme: Option<String>,
    /// `None`: every group.
    pub group: Option<String>,
    pub from_us: i64,
    pub until_us: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exclusion {
    pub id: i64,
    #[serde(flatten)]
    pub exclusion: NewExclusion,
    pub created_by: String,
    pub created_us: i64,
    pub ended_us: Option<i64>,
    pub ended_by: Option<String>,
}

impl Exclusion {
    /// Whether it applies at `time_us`.
    pub fn in_force(&self, time_us: i64) -> bool {
        self.ended_us.is_none()
            && self.exclusion.from_us <= time_us
            && time_us < self.exclusion.until_us
    }
}

pub fn add_exclusion(
    db: &mut dyn Backend,
    exclusion: &NewExclusion,
    by: &str,
    now_us: i64,
) -> Result<i64, StoreError> {
    let rows = db.rows(
        "INSERT INTO monitor_exclusions (term, theme, group_name, from_us, until_us, reason, created_by, created_us) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &[
            exclusion.term.as_str().into(),
            exclusion.theme.clone().into(),
            exclusion.group.clone().into(),
            exclusion.from_us.into(),
            exclusion.until_us.into(),
            exclusion.reason.as_str().into(),
            by.into(),
            now_us.into(),
        ],
    )?;
    crate::returned_id(&rows)
}

/// Ends an exclusion early; false if it had already ended.
pub fn end_exclusion(
    db: &mut dyn Backend,
    id: i64,
    by: &str,
    now_us: i64,
) -> Result<bool, StoreError> {
    let changed = db.execute(
        "UPDATE monitor_exclusions SET ended_us = ?, ended_by = ? WHERE id = ? AND ended_us IS NULL",
        &[now_us.into(), by.into(), id.into()],
    )?;
    Ok(changed == 1)
}

/// Newest first; with `current`, only those not ended nor past.
pub fn exclusions(
    db: &mut dyn Backend,
    current: Option<i64>,
) -> Result<Vec<Exclusion>, StoreError> {
    let mut sql = String::from(
        "SELECT id, term, theme, group_name, from_us, until_us, reason, created_by, created_us, ended_us, ended_by \
         FROM monitor_exclusions",
    );
    let mut values = Vec::new();
    if let Some(now) = current {
        sql.push_str(" WHERE ended_us IS NULL AND until_us > ?");
        values.push(SqlValue::Int(now));
    }
    sql.push_str(" ORDER BY id DESC");
    let bad = || StoreError::Invalid("unexpected monitor_exclusions row".into());
    db.rows(&sql, &values)?
        .iter()
        .map(|r| {
            let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
            let int = |i: usize| r.get(i).and_then(SqlValue::int);
            Ok(Exclusion {
                id: int(0).ok_or_else(bad)?,
                exclusion: NewExclusion {
                    term: text(1).ok_or_else(bad)?,
                    theme: text(2),
                    group: text(3),
                    from_us: int(4).ok_or_else(bad)?,
                    until_us: int(5).ok_or_else(bad)?,
                    reason: text(6).ok_or_else(bad)?,
                },
                created_by: text(7).ok_or_else(bad)?,
                created_us: int(8).ok_or_else(bad)?,
                ended_us: int(9),
                ended_by: text(10),
            })
        })
        .collect()
}

/// One saved version of a lexicon file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LexiconVersion {
    pub id: i64,
    /// `en/self-harm.toml`
    pub file: String,
    pub text: String,
    pub edited_by: String,
    pub edited_us: i64,
}

/// Keeps a new version of a lexicon; the newest of each file is in force.
pub fn save_lexicon(
    db: &mut dyn Backend,
    file: &str,
    text: &str,
    by: &str,
    now_us: i64,
) -> Result<i64, StoreError> {
    let rows = db.rows(
        "INSERT INTO lexicon_versions (file, text, edited_by, edited_us) VALUES (?, ?, ?, ?) RETURNING id",
        &[file.into(), text.into(), by.into(), now_us.into()],
    )?;
    crate::returned_id(&rows)
}

fn lexicon_versions(
    db: &mut dyn Backend,
    sql: &str,
    values: &[SqlValue],
) -> Result<Vec<LexiconVersion>, StoreError> {
    let bad = || StoreError::Invalid("unexpected lexicon_versions row".into());
    db.rows(sql, values)?
        .iter()
        .map(|r| {
            let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
            let int = |i: usize| r.get(i).and_then(SqlValue::int);
            Ok(LexiconVersion {
                id: int(0).ok_or_else(bad)?,
                file: text(1).ok_or_else(bad)?,
                text: text(2).ok_or_else(bad)?,
                edited_by: text(3).ok_or_else(bad)?,
                edited_us: int(4).ok_or_else(bad)?,
            })
        })
        .collect()
}

/// The newest version of every edited file.
pub fn edited_lexicons(db: &mut dyn Backend) -> Result<Vec<LexiconVersion>, StoreError> {
    lexicon_versions(
        db,
        "SELECT id, file, text, edited_by, edited_us FROM lexicon_versions v \
         WHERE id = (SELECT max(id) FROM lexicon_versions w WHERE w.file = v.file) ORDER BY file",
        &[],
    )
}

/// Every version of one file, newest first.
pub fn lexicon_history(
    db: &mut dyn Backend,
    file: &str,
) -> Result<Vec<LexiconVersion>, StoreError> {
    lexicon_versions(
        db,
        "SELECT id, file, text, edited_by, edited_us FROM lexicon_versions WHERE file = ? ORDER BY id DESC",
        &[file.into()],
    )
}

/// Claims the digest for `week` (its Monday, `YYYY-MM-DD`); false when it
/// was already sent, so two nodes or a restart never send it twice.
pub fn claim_digest(db: &mut dyn Backend, week: &str, now_us: i64) -> Result<bool, StoreError> {
    let taken = db.rows("SELECT 1 FROM alert_digests WHERE week = ?", &[week.into()])?;
    if !taken.is_empty() {
        return Ok(false);
    }
    db.execute(
        "INSERT INTO alert_digests (week, sent_us) VALUES (?, ?)",
        &[week.into(), now_us.into()],
    )?;
    Ok(true)
}
