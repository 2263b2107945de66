//! The embedded SQLite backend: one file in the data directory, WAL mode,
//! access events in one table per UTC day.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{params_from_iter, Connection, OptionalExtension};

use crate::event::{AccessEvent, EventRef, Protocol};
use crate::query::{categories_column, conditions, parse_categories, EventQuery, SqlValue};
use crate::{AuditEntry, Backend, StoreError};

// Version 2 (page views) is applied to each day table as it opens.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        3,
        "console",
        include_str!("../migrations/sqlite/0003_console.sql"),
    ),
    (
        4,
        "group_policies",
        include_str!("../migrations/sqlite/0004_group_policies.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../migrations/sqlite/0005_alerts.sql"),
    ),
];

/// Rows per multi-row INSERT: 16 columns × 64 rows stays far below
/// SQLite's parameter limit.
const ROWS_PER_INSERT: usize = 64;
const COLUMNS: &str = "reference, time_us, site, device, client_ip, user_name, group_name, protocol, host, url, search, action, categories, rule, count, page_view";

pub struct Sqlite {
    conn: Connection,
    days: BTreeSet<i32>,
}

fn table(day: i32) -> String {
    format!("access_events_{day:08}")
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Invalid(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path)?;
        // WAL keeps readers off the writer's back, and with synchronous =
        // NORMAL a killed process loses nothing that was committed.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Index pages of a day's events outgrow SQLite's 2 MiB default cache
        // within minutes of busy traffic; 64 MiB keeps them in memory, and
        // fewer, larger checkpoints keep the writer from stalling.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut s = Sqlite {
            conn,
            days: BTreeSet::new(),
        };
        s.load_days()?;
        Ok(s)
    }

    /// Reads which day tables exist: another connection (the event
    /// writer) may have made some since this one opened.
    fn refresh_days(&mut self) -> Result<(), StoreError> {
        let exists: bool = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'event_days'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if exists {
            let mut stmt = self.conn.prepare_cached("SELECT day FROM event_days")?;
            self.days = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    fn load_days(&mut self) -> Result<(), StoreError> {
        self.refresh_days()?;
        // Day tables made before `page_view` existed get the column; older
        // rows read as not page views.
        for day in self.days.clone() {
            let t = table(day);
            let has: i64 = self.conn.query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{t}') WHERE name = 'page_view'"),
                [],
                |r| r.get(0),
            )?;
            let exists: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&t],
                |r| r.get(0),
            )?;
            if exists > 0 && has == 0 {
                self.conn.execute_batch(&format!(
                    "ALTER TABLE {t} ADD COLUMN page_view INTEGER NOT NULL DEFAULT 0"
                ))?;
            }
        }
        Ok(())
    }

    fn ensure_day(&mut self, day: i32) -> Result<(), StoreError> {
        if self.days.contains(&day) {
            return Ok(());
        }
        let t = table(day);
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                reference INTEGER PRIMARY KEY,
                time_us INTEGER NOT NULL,
                site TEXT, device TEXT,
                client_ip TEXT NOT NULL,
                user_name TEXT, group_name TEXT,
                protocol TEXT NOT NULL,
                host BLOB NOT NULL, url BLOB, search TEXT,
                action TEXT NOT NULL, categories TEXT NOT NULL, rule TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 1,
                page_view INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_name, time_us);
             CREATE INDEX IF NOT EXISTS {t}_ip ON {t} (client_ip, time_us);
             CREATE INDEX IF NOT EXISTS {t}_time ON {t} (time_us);
             INSERT OR IGNORE INTO event_days (day) VALUES ({day});"
        ))?;
        self.days.insert(day);
        Ok(())
    }

    fn insert_day(&self, day: i32, events: &[&AccessEvent]) -> Result<(), StoreError> {
        let t = table(day);
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let row = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
            let values = vec![row; chunk.len()].join(",");
            // OR IGNORE: a replayed journal may hold events already written;
            // it costs nothing here, so new and replayed events share a path.
            let sql = format!("INSERT OR IGNORE INTO {t} ({COLUMNS}) VALUES {values}");
            let mut stmt = self.conn.prepare_cached(&sql)?;
            // Bound by reference: no copy of each URL on the Rust side.
            let categories: Vec<String> = chunk
                .iter()
                .map(|e| categories_column(&e.categories))
                .collect();
            let counts: Vec<i64> = chunk.iter().map(|e| e.count as i64).collect();
            let protocols: Vec<&str> = chunk.iter().map(|e| e.protocol.as_str()).collect();
            let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 16);
            for (((e, categories), count), protocol) in
                chunk.iter().zip(&categories).zip(&counts).zip(&protocols)
            {
                params.extend([
                    &e.reference.0 as &dyn rusqlite::ToSql,
                    &e.time_us,
                    &e.site,
                    &e.device,
                    &e.client_ip,
                    &e.user,
                    &e.group,
                    protocol,
                    &e.host,
                    &e.url,
                    &e.search,
                    &e.action,
                    categories,
                    &e.rule,
                    count,
                    &e.page_view,
                ]);
            }
            stmt.execute(params_from_iter(params))?;
        }
        Ok(())
    }
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessEvent> {
    let protocol: String = r.get(7)?;
    let categories: String = r.get(12)?;
    Ok(AccessEvent {
        reference: EventRef(r.get(0)?),
        time_us: r.get(1)?,
        site: r.get(2)?,
        device: r.get(3)?,
        client_ip: r.get(4)?,
        user: r.get(5)?,
        group: r.get(6)?,
        protocol: Protocol::parse(&protocol).unwrap_or(Protocol::Dns),
        host: r.get(8)?,
        url: r.get(9)?,
        search: r.get(10)?,
        action: r.get(11)?,
        categories: parse_categories(&categories),
        rule: r.get(13)?,
        count: r.get::<_, i64>(14)? as u32,
        page_view: r.get::<_, i64>(15)? != 0,
    })
}

impl Backend for Sqlite {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn migrate(&mut self) -> Result<Vec<u32>, StoreError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL)",
        )?;
        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            // IMMEDIATE takes the write lock before the check, so two
            // connections migrating at once (the event writer and the
            // console) apply each step once.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done: Option<i64> = tx
                .query_row(
                    "SELECT version FROM schema_migrations WHERE version = ?1",
                    [version],
                    |r| r.get(0),
                )
                .optional()?;
            if done.is_some() {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_us) VALUES (?1, ?2, ?3)",
                rusqlite::params![version, name, jiff::Timestamp::now().as_microsecond()],
            )?;
            tx.commit()?;
            applied.push(*version);
        }
        self.load_days()?;
        Ok(applied)
    }

    fn insert_events(&mut self, events: &[AccessEvent]) -> Result<(), StoreError> {
        let mut by_day: std::collections::BTreeMap<i32, Vec<&AccessEvent>> = Default::default();
        for e in events {
            by_day.entry(e.day().unwrap_or(0)).or_default().push(e);
        }
        for day in by_day.keys() {
            self.ensure_day(*day)?;
        }
        let tx = self.conn.unchecked_transaction()?;
        for (day, events) in &by_day {
            self.insert_day(*day, events)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn query_events(&mut self, q: &EventQuery) -> Result<Vec<AccessEvent>, StoreError> {
        self.refresh_days()?;
        let limit = q.page_size();
        let mut out = Vec::new();
        let since_day = q.since_us.and_then(crate::event::day_of);
        let until_day = q.until_us.and_then(crate::event::day_of);
        let before_day = q.before.and_then(|(t, _)| crate::event::day_of(t));
        let days: Vec<i32> = self
            .days
            .iter()
            .rev()
            .copied()
            .filter(|d| since_day.is_none_or(|s| *d >= s))
            .filter(|d| until_day.is_none_or(|u| *d <= u))
            .filter(|d| before_day.is_none_or(|b| *d <= b))
            .collect();
        for day in days {
            let (conditions, values) = conditions(q, "LIKE");
            let mut sql = format!("SELECT {COLUMNS} FROM {} WHERE 1=1{conditions}", table(day));
            let params: Vec<rusqlite::types::Value> = values.into_iter().map(to_sqlite).collect();
            sql.push_str(&format!(
                " ORDER BY time_us DESC, reference DESC LIMIT {}",
                limit - out.len()
            ));
            let mut stmt = self.conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), row_to_event)?;
            for row in rows {
                out.push(row?);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn drop_days_before(&mut self, day: i32) -> Result<Vec<i32>, StoreError> {
        let old: Vec<i32> = self.days.iter().copied().filter(|d| *d < day).collect();
        for d in &old {
            let tx = self.conn.transaction()?;
            tx.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}; DELETE FROM event_days WHERE day = {d};",
                table(*d)
            ))?;
            tx.commit()?;
            self.days.remove(d);
        }
        Ok(old)
    }

    fn days(&mut self) -> Result<Vec<i32>, StoreError> {
        self.refresh_days()?;
        Ok(self.days.iter().copied().collect())
    }

    fn event_tables(&mut self, since_us: i64, until_us: i64) -> Vec<String> {
        if let Err(e) = self.refresh_days() {
            tracing::warn!("cannot list the event days: {e}");
        }
        let first = crate::event::day_of(since_us).unwrap_or(i32::MIN);
        let last = crate::event::day_of(until_us).unwrap_or(i32::MAX);
        self.days
            .iter()
            .filter(|d| (first..=last).contains(*d))
            .map(|d| table(*d))
            .collect()
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO audit_log (time_us, actor, action, object, before, after, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![entry.time_us, entry.actor, entry.action, entry.object, entry.before, entry.after, entry.reason],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn audit_log(&mut self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT time_us, actor, action, object, before, after, reason FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(AuditEntry {
                time_us: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                object: r.get(3)?,
                before: r.get(4)?,
                after: r.get(5)?,
                reason: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn identities(
        &mut self,
    ) -> Result<(Vec<crate::StoredSubnet>, Vec<crate::StoredDevice>), StoreError> {
        let mut stmt = self.conn.prepare(crate::SUBNETS_SQL)?;
        let subnets = stmt
            .query_map([], |r| {
                Ok(crate::StoredSubnet {
                    subnet: r.get(0)?,
                    group: r.get(1)?,
                    site: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare(crate::DEVICES_SQL)?;
        let devices = stmt
            .query_map([], |r| {
                Ok(crate::StoredDevice {
                    name: r.get(0)?,
                    doh_token: r.get(1)?,
                    user: r.get(2)?,
                    group: r.get(3)?,
                    site: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok((subnets, devices))
    }

    fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }

    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let params = params_from_iter(params.iter().cloned().map(to_sqlite));
        let rows = stmt.query_map(params, |r| {
            (0..columns)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Integer(i) => SqlValue::Int(i),
                        rusqlite::types::Value::Text(t) => SqlValue::Text(t),
                        rusqlite::types::Value::Real(f) => SqlValue::Text(f.to_string()),
                        rusqlite::types::Value::Blob(b) => {
                            SqlValue::Text(String::from_utf8_lossy(&b).into_owned())
                        }
                        rusqlite::types::Value::Null => SqlValue::Null,
                    })
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let changed = stmt.execute(params_from_iter(params.iter().cloned().map(to_sqlite)))?;
        Ok(changed as u64)
    }

    fn check_integrity(&mut self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

fn to_sqlite(v: SqlValue) -> rusqlite::types::Value {
    match v {
        SqlValue::Null => rusqlite::types::Value::Null,
        SqlValue::Text(t) => rusqlite::types::Value::Text(t),
        SqlValue::Int(i) => rusqlite::types::Value::Integer(i),
        SqlValue::Bytes(b) => rusqlite::types::Value::Blob(b),
    }
}
