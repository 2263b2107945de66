//! Persistence: the access-event log (the forensic record of who went where,
//! when, and what was blocked), the append-only configuration audit log, and
//! the tables later parts build on (sites, users, groups, devices, identity
//! mappings, list sources).
//!
//! Two backends share one [`Backend`] trait and the same numbered migrations:
//! embedded SQLite (the default; daily event tables) and PostgreSQL (for
//! trusts; a table partitioned by day, loaded by binary COPY). Listeners never
//! touch a backend: they hand events to an [`writer::EventSink`], and one
//! writer thread batches them in, spilling to a journal on disk when the
//! queue is full or the database is down.

pub mod access;
pub mod alerts;
pub mod event;
pub mod identities;
pub mod journal;
pub mod people;
pub mod policies;
pub mod postgres;
pub mod query;
pub mod sqlite;
pub mod unblock;
pub mod writer;

use std::path::PathBuf;

pub use access::{event_for, Request};
pub use event::{search_terms, AccessEvent, EventRef, Protocol, RefGenerator};
pub use query::{write_csv, EventQuery, SqlValue};
pub use writer::{EventSink, EventTap, StatsSnapshot, Writer, WriterConfig};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("{0}")]
    Invalid(String),
}

/// One configuration change, as change control records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub time_us: i64,
    /// Who made the change.
    pub actor: String,
    /// What kind of change (`override.add`, `group.update`, ...).
    pub action: String,
    /// What it changed (`group:pupils`).
    pub object: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
}

/// Counts for reports; see [`Backend::summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub requests: u64,
    pub blocked: u64,
    pub page_views: u64,
    pub blocked_by_category: Vec<(String, u64)>,
}

/// A subnet mapping kept in the store (managed from the console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubnet {
    pub subnet: String,
    pub group: String,
    pub site: Option<String>,
}

/// A device with a DoH token, kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    pub name: String,
    pub doh_token: String,
    /// The owner's username, unless the owner is disabled or there is none.
    pub user: Option<String>,
    /// The owner's first group (by id).
    pub group: Option<String>,
    pub site: Option<String>,
}

/// The identity mappings in the store; the SQL is the same for both
/// dialects.
pub const SUBNETS_SQL: &str = "SELECT m.subnet, g.name, s.name FROM identity_mappings m \
     JOIN groups g ON g.id = m.group_id LEFT JOIN sites s ON s.id = m.site_id ORDER BY m.id";
/// Devices with tokens whose owner, if any, is not disabled.
pub const DEVICES_SQL: &str = "SELECT d.name, d.doh_token, u.username, \
     (SELECT g.name FROM memberships mb JOIN groups g ON g.id = mb.group_id \
      WHERE mb.user_id = u.id ORDER BY g.id LIMIT 1), s.name \
     FROM devices d LEFT JOIN users u ON u.id = d.owner_id LEFT JOIN sites s ON s.id = d.site_id \
     WHERE d.doh_token IS NOT NULL AND (u.id IS NULL OR NOT u.disabled) ORDER BY d.id";

/// A user who may sign in to the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub username: String,
    /// An argon2id hash in PHC form (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// The user's first group (by id).
    pub group: Option<String>,
    /// Guests stop signing in at this time.
    pub expires_us: Option<i64>,
}

/// Proxy accounts; the same SQL for both dialects.
pub const ACCOUNTS_SQL: &str = "SELECT u.username, u.password_hash, \
     (SELECT g.name FROM memberships mb JOIN groups g ON g.id = mb.group_id \
      WHERE mb.user_id = u.id ORDER BY g.id LIMIT 1), u.expires_us \
     FROM users u WHERE u.password_hash IS NOT NULL AND NOT u.disabled ORDER BY u.id";

/// What every backend can do.
pub trait Backend: Send {
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Applies the migrations not yet applied; returns their versions.
    fn migrate(&mut self) -> Result<Vec<u32>, StoreError>;
    /// Writes a batch of new events in one transaction.
    fn insert_events(&mut self, events: &[AccessEvent]) -> Result<(), StoreError>;
    /// Writes events replayed from the journal: any already stored (a batch
    /// whose commit was not acknowledged, say) are skipped, never doubled.
    fn insert_replayed(&mut self, events: &[AccessEvent]) -> Result<(), StoreError> {
        self.insert_events(events)
    }
    /// Newest first, one page.
    fn query_events(&mut self, query: &EventQuery) -> Result<Vec<AccessEvent>, StoreError>;
    /// Newest first, page after page, up to `max_rows` (0: all), handing
    /// each page to `each` as it comes.
    fn for_each_page(
        &mut self,
        query: &EventQuery,
        max_rows: usize,
        each: &mut dyn FnMut(&[AccessEvent]) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        let mut query = query.clone();
        let mut seen = 0usize;
        loop {
            let want = match max_rows {
                0 => query::MAX_PAGE,
                n => (n - seen).min(query::MAX_PAGE),
            };
            if want == 0 {
                return Ok(seen);
            }
            query.limit = want;
            let page = self.query_events(&query)?;
            let Some(last) = page.last() else {
                return Ok(seen);
            };
            query.before = Some((last.time_us, last.reference.0));
            seen += page.len();
            each(&page)?;
            if page.len() < want {
                return Ok(seen);
            }
        }
    }
    /// Every event `query` matches, newest first.
    fn query_all(&mut self, query: &EventQuery) -> Result<Vec<AccessEvent>, StoreError> {
        let mut out = Vec::new();
        self.for_each_page(query, 0, &mut |page| {
            out.extend_from_slice(page);
            Ok(())
        })?;
        Ok(out)
    }
    /// The tables holding events between the two times (SQLite keeps a
    /// table a day; PostgreSQL one partitioned table).
    fn event_tables(&mut self, since_us: i64, until_us: i64) -> Vec<String>;
    /// Counts for reports: requests and blocks between the two times, and
    /// blocks by category, most first.
    fn summary(&mut self, since_us: i64, until_us: i64) -> Result<Summary, StoreError> {
        let mut summary = Summary::default();
        let mut by_category: std::collections::HashMap<String, u64> = Default::default();
        for table in self.event_tables(since_us, until_us) {
            let range = [SqlValue::Int(since_us), SqlValue::Int(until_us)];
            let counts = self.rows(
                &format!("SELECT count(*), coalesce(sum(CASE WHEN action = 'block' THEN 1 ELSE 0 END), 0), coalesce(sum(CASE WHEN page_view THEN 1 ELSE 0 END), 0) FROM {table} WHERE time_us >= ? AND time_us < ?"),
                &range,
            )?;
            if let Some(row) = counts.first() {
                let n = |i: usize| row.get(i).and_then(SqlValue::int).unwrap_or(0).max(0) as u64;
                summary.requests += n(0);
                summary.blocked += n(1);
                summary.page_views += n(2);
            }
            let blocked = self.rows(
                &format!("SELECT categories, count(*) FROM {table} WHERE time_us >= ? AND time_us < ? AND action = 'block' GROUP BY categories"),
                &range,
            )?;
            for row in blocked {
                let count = row.get(1).and_then(SqlValue::int).unwrap_or(0).max(0) as u64;
                let categories = row.first().and_then(SqlValue::text).unwrap_or("");
                let mut any = false;
                for c in categories.split(',').filter(|c| !c.is_empty()) {
                    *by_category.entry(c.to_string()).or_default() += count;
                    any = true;
                }
                if !any {
                    *by_category.entry("(no category)".into()).or_default() += count;
                }
            }
        }
        summary.blocked_by_category = by_category.into_iter().collect();
        summary
            .blocked_by_category
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(summary)
    }
    /// Drops whole days before `day` (`YYYYMMDD`); returns the days dropped.
    fn drop_days_before(&mut self, day: i32) -> Result<Vec<i32>, StoreError>;
    /// The days that hold events.
    fn days(&mut self) -> Result<Vec<i32>, StoreError>;
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, StoreError>;
    /// Newest first.
    fn audit_log(&mut self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Subnet mappings and DoH devices, for the policy.
    fn identities(&mut self) -> Result<(Vec<StoredSubnet>, Vec<StoredDevice>), StoreError>;
    /// Users who may sign in to the proxy: enabled, with a password.
    fn accounts(&mut self) -> Result<Vec<StoredAccount>, StoreError> {
        let bad = || StoreError::Invalid("unexpected account row".into());
        self.rows(ACCOUNTS_SQL, &[])?
            .iter()
            .map(|r| {
                let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
                Ok(StoredAccount {
                    username: text(0).ok_or_else(bad)?,
                    password_hash: text(1).ok_or_else(bad)?,
                    group: text(2),
                    expires_us: r.get(3).and_then(SqlValue::int),
                })
            })
            .collect()
    }
    /// Runs SQL as is; for tests and administration.
    fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Runs one statement of SQL shared by both dialects (`?` for each
    /// bound value) and returns its rows. Integers and booleans read as
    /// [`SqlValue::Int`].
    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError>;
    /// Runs one statement of shared SQL; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;
    /// `ok`, or what the database's own check found.
    fn check_integrity(&mut self) -> Result<String, StoreError>;
}

/// Which database to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A SQLite file (made if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, and optionally the schema to keep the tables in.
    Postgres { url: String, schema: Option<String> },
}

impl StoreConfig {
    /// Connects (without migrating).
    pub fn open(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(match self {
            StoreConfig::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            StoreConfig::Postgres { url, schema } => {
                Box::new(postgres::Postgres::connect(url, schema.as_deref())?)
            }
        })
    }
}

/// Runs `work` in one transaction: all of it is kept, or none.
pub fn in_transaction<T>(
    db: &mut dyn Backend,
    work: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    db.execute_raw("BEGIN")?;
    match work(db) {
        Ok(value) => {
            db.execute_raw("COMMIT")?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = db.execute_raw("ROLLBACK") {
                tracing::error!("rollback failed: {rollback}");
            }
            Err(e)
        }
    }
}

/// The id an `INSERT ... RETURNING id` gave back.
pub(crate) fn returned_id(rows: &[Vec<SqlValue>]) -> Result<i64, StoreError> {
    rows.first()
        .and_then(|r| r.first())
        .and_then(SqlValue::int)
        .ok_or_else(|| StoreError::Invalid("INSERT returned no id".into()))
}
