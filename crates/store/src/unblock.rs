//! Temporary-unblock requests: change control as the schools' policies
//! describe it. A request records who needs which site, why, for whom and
//! until when; an Online Safety Lead or Administrator approves or refuses
//! it; an approved request is an allow override until its reversion time,
//! when it is marked reverted. Every step is also written to the audit log
//! by the caller.

use crate::{Backend, SqlValue, StoreError};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnblockStatus {
    Pending,
    Approved,
    Refused,
    Reverted,
}

impl UnblockStatus {
    pub const ALL: [UnblockStatus; 4] = [
        UnblockStatus::Pending,
        UnblockStatus::Approved,
        UnblockStatus::Refused,
        UnblockStatus::Reverted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnblockStatus::Pending => "pending",
            UnblockStatus::Approved => "approved",
            UnblockStatus::Refused => "refused",
            UnblockStatus::Reverted => "reverted",
        }
    }

    pub fn parse(s: &str) -> Option<UnblockStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A request as entered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewUnblock {
    /// The staff member who needs the site.
    pub staff_name: String,
    /// The day they asked (`YYYY-MM-DD`).
    pub requested_on: String,
    /// The address as they gave it.
    pub url: String,
    /// What is allowed: a domain (with its subdomains) or `host/path`.
    pub site: String,
    pub reason: String,
    pub revert_us: i64,
    /// The year groups or staff who will use the site.
    pub audience: String,
    /// The group the allow is for; `None` for everyone.
    pub group: Option<String>,
    /// The block event that led to the request, if any.
    pub event_ref: Option<String>,
}

/// A stored request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unblock {
    pub id: i64,
    pub created_us: i64,
    #[serde(flatten)]
    pub request: NewUnblock,
    /// The console user who entered it.
    pub requested_by: String,
    pub status: UnblockStatus,
    /// Who made or refused the change.
    pub decided_by: Option<String>,
    pub decided_us: Option<i64>,
    pub decision_note: Option<String>,
    pub reverted_us: Option<i64>,
}

const COLUMNS: &str = "id, created_us, staff_name, requested_on, url, site, reason, revert_us, \
     audience, group_name, event_ref, requested_by, status, decided_by, decided_us, decision_note, reverted_us";

fn unblock_from(r: &[SqlValue]) -> Result<Unblock, StoreError> {
    let bad = || StoreError::Invalid("unexpected unblock_requests row".into());
    let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
    let int = |i: usize| r.get(i).and_then(SqlValue::int);
    Ok(Unblock {
        id: int(0).ok_or_else(bad)?,
        created_us: int(1).ok_or_else(bad)?,
        request: NewUnblock {
            staff_name: text(2).ok_or_else(bad)?,
            requested_on: text(3).ok_or_else(bad)?,
            url: text(4).ok_or_else(bad)?,
            site: text(5).ok_or_else(bad)?,
            reason: text(6).ok_or_else(bad)?,
            revert_us: int(7).ok_or_else(bad)?,
            audience: text(8).ok_or_else(bad)?,
            group: text(9),
            event_ref: text(10),
        },
        requested_by: text(11).ok_or_else(bad)?,
        status: text(12)
            .and_then(|s| UnblockStatus::parse(&s))
            .ok_or_else(bad)?,
        decided_by: text(13),
        decided_us: int(14),
        decision_note: text(15),
        reverted_us: int(16),
    })
}

pub fn add(
    db: &mut dyn Backend,
    request: &NewUnblock,
    requested_by: &str,
    now_us: i64,
) -> Result<i64, StoreError> {
    let rows = db.rows(
        "INSERT INTO unblock_requests (created_us, staff_name, requested_on, url, site, reason, revert_us, audience, group_name, event_ref, requested_by, status) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
        &[
            now_us.into(),
            request.staff_name.as_str().into(),
            request.requested_on.as_str().into(),
            request.url.as_str().into(),
            request.site.as_str().into(),
            request.reason.as_str().into(),
            request.revert_us.into(),
            request.audience.as_str().into(),
            request.group.clone().into(),
            request.event_ref.clone().into(),
            requested_by.into(),
        ],
    )?;
    crate::returned_id(&rows)
}

pub fn get(db: &mut dyn Backend, id: i64) -> Result<Option<Unblock>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM unblock_requests WHERE id = ?");
    db.rows(&sql, &[id.into()])?
        .first()
        .map(|r| unblock_from(r))
        .transpose()
}

/// Which requests to list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UnblockFilter {
    pub status: Option<UnblockStatus>,
    /// Part of the URL or site (`%` and `_` are literal).
    pub site: Option<String>,
    /// Part of the staff member's name.
    pub staff: Option<String>,
    /// Entered at or after.
    pub since_us: Option<i64>,
    /// Entered before.
    pub until_us: Option<i64>,
}

/// Newest first.
pub fn list(db: &mut dyn Backend, filter: &UnblockFilter) -> Result<Vec<Unblock>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM unblock_requests WHERE 1=1");
    let mut values: Vec<SqlValue> = Vec::new();
    if let Some(s) = filter.status {
        sql.push_str(" AND status = ?");
        values.push(s.as_str().into());
    }
    if let Some(site) = filter.site.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND (lower(url) LIKE ? ESCAPE '\\' OR lower(site) LIKE ? ESCAPE '\\')");
        let pattern = format!("%{}%", crate::query::like_escape(&site.to_lowercase()));
        values.push(pattern.clone().into());
        values.push(pattern.into());
    }
    if let Some(staff) = filter.staff.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND lower(staff_name) LIKE ? ESCAPE '\\'");
        values.push(format!("%{}%", crate::query::like_escape(&staff.to_lowercase())).into());
    }
    if let Some(t) = filter.since_us {
        sql.push_str(" AND created_us >= ?");
        values.push(t.into());
    }
    if let Some(t) = filter.until_us {
        sql.push_str(" AND created_us < ?");
        values.push(t.into());
    }
    sql.push_str(" ORDER BY id DESC");
    db.rows(&sql, &values)?
        .iter()
        .map(|r| unblock_from(r))
        .collect()
}

/// Moves a request from `from` to `to`; false if it was no longer in
/// `from` (someone else decided first).
pub fn decide(
    db: &mut dyn Backend,
    id: i64,
    from: UnblockStatus,
    to: UnblockStatus,
    by: &str,
    note: &str,
    now_us: i64,
) -> Result<bool, StoreError> {
    let changed = db.execute(
        "UPDATE unblock_requests SET status = ?, decided_by = ?, decided_us = ?, decision_note = ? \
         WHERE id = ? AND status = ?",
        &[
            to.as_str().into(),
            by.into(),
            now_us.into(),
            note.into(),
            id.into(),
            from.as_str().into(),
        ],
    )?;
    Ok(changed == 1)
}

/// Approved requests whose reversion time has come, marked reverted.
pub fn revert_due(db: &mut dyn Backend, now_us: i64) -> Result<Vec<Unblock>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM unblock_requests WHERE status = 'approved' AND revert_us <= ? ORDER BY id"
    );
    let due: Vec<Unblock> = db
        .rows(&sql, &[now_us.into()])?
        .iter()
        .map(|r| unblock_from(r))
        .collect::<Result<_, _>>()?;
    let mut reverted = Vec::with_capacity(due.len());
    for u in due {
        let changed = db.execute(
            "UPDATE unblock_requests SET status = 'reverted', reverted_us = ? WHERE id = ? AND status = 'approved'",
            &[now_us.into(), u.id.into()],
        )?;
        if changed == 1 {
            reverted.push(u);
        }
    }
    Ok(reverted)
}

/// Approved requests still in force: the allow overrides the policy adds.
pub fn in_force(db: &mut dyn Backend, now_us: i64) -> Result<Vec<Unblock>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM unblock_requests WHERE status = 'approved' AND revert_us > ? ORDER BY id"
    );
    db.rows(&sql, &[now_us.into()])?
        .iter()
        .map(|r| unblock_from(r))
        .collect()
}
