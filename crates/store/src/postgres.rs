//! The PostgreSQL backend, for trusts whose sites share one database.
//! Access events go in by binary COPY into a table partitioned by day.

use std::collections::BTreeSet;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use crate::event::{AccessEvent, EventRef, Protocol};
use crate::query::{
    categories_column, conditions, numbered_placeholders, parse_categories, EventQuery, SqlValue,
};
use crate::{AuditEntry, Backend, StoreError};

const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "page_view",
        include_str!("../migrations/postgres/0002_page_view.sql"),
    ),
    (
        3,
        "console",
        include_str!("../migrations/postgres/0003_console.sql"),
    ),
    (
        4,
        "group_policies",
        include_str!("../migrations/postgres/0004_group_policies.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../migrations/postgres/0005_alerts.sql"),
    ),
];
const COLUMNS: &str = "reference, time_us, site, device, client_ip, user_name, group_name, protocol, host, url, search, action, categories, rule, count, page_view";
/// [`COLUMNS`] of the staging table `s`.
const STAGED: &str = "s.reference, s.time_us, s.site, s.device, s.client_ip, s.user_name, s.group_name, s.protocol, s.host, s.url, s.search, s.action, s.categories, s.rule, s.count, s.page_view";
const TYPES: [Type; 16] = [
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::BOOL,
];
/// Serialises `tutela db migrate` across the nodes of a trust.
const MIGRATION_LOCK: i64 = 0x7475_7465_6c61;

pub struct Postgres {
    client: Client,
    /// A second connection, opened on the first large batch: one backend
    /// process parses COPY on one core, so a large batch goes in as two
    /// halves side by side.
    second: Option<Client>,
    connect: (postgres::Config, Option<String>),
    days: BTreeSet<i32>,
}

/// Batches at least this large are split over two connections.
const SPLIT_BATCH: usize = 20_000;

fn partition(day: i32) -> String {
    format!("access_events_{day:08}")
}

/// [start, end) of a UTC day in microseconds.
fn day_range(day: i32) -> Result<(i64, i64), StoreError> {
    let date = jiff::civil::Date::new(
        (day / 10_000) as i16,
        ((day / 100) % 100) as i8,
        (day % 100) as i8,
    )
    .map_err(|e| StoreError::Invalid(format!("day {day}: {e}")))?;
    let start = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let end = start
        .tomorrow()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok((
        start.timestamp().as_microsecond(),
        end.timestamp().as_microsecond(),
    ))
}

impl Postgres {
    /// Connects; with `schema`, every table lives in that schema (made if
    /// missing), which keeps test runs and tenants apart.
    pub fn connect(url: &str, schema: Option<&str>) -> Result<Postgres, StoreError> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_application_name().is_none() {
            config.application_name("tutela");
        }
        config.connect_timeout(std::time::Duration::from_secs(5));
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::Invalid(format!("schema name `{schema}`")));
            }
        }
        let schema = schema.map(str::to_string);
        let client = Self::open(&config, schema.as_deref())?;
        let mut pg = Postgres {
            client,
            second: None,
            connect: (config, schema),
            days: BTreeSet::new(),
        };
        pg.load_days()?;
        Ok(pg)
    }

    fn open(config: &postgres::Config, schema: Option<&str>) -> Result<Client, StoreError> {
        let mut client = config.connect(NoTls)?;
        if let Some(schema) = schema {
            client.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
            ))?;
        }
        Ok(client)
    }

    fn load_days(&mut self) -> Result<(), StoreError> {
        let rows = self.client.query(
            "SELECT c.relname::text FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent
               JOIN pg_namespace n ON n.oid = p.relnamespace
              WHERE p.relname = 'access_events' AND n.nspname = current_schema()",
            &[],
        )?;
        self.days = rows
            .iter()
            .filter_map(|r| {
                r.get::<_, String>(0)
                    .strip_prefix("access_events_")
                    .and_then(|d| d.parse().ok())
            })
            .collect();
        Ok(())
    }

    fn ensure_day(&mut self, day: i32) -> Result<(), StoreError> {
        if self.days.contains(&day) {
            return Ok(());
        }
        let (start, end) = day_range(day)?;
        self.client.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF access_events FOR VALUES FROM ({start}) TO ({end})",
            partition(day)
        ))?;
        self.days.insert(day);
        Ok(())
    }

    fn ensure_days(&mut self, events: &[AccessEvent]) -> Result<(), StoreError> {
        let days: BTreeSet<i32> = events
            .iter()
            .map(|e| e.day().unwrap_or(19_700_101))
            .collect();
        days.into_iter().try_for_each(|day| self.ensure_day(day))
    }

    fn copy_into(
        tx: &mut postgres::Transaction<'_>,
        table: &str,
        events: &[AccessEvent],
    ) -> Result<(), StoreError> {
        let sink = tx.copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))?;
        let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
        for e in events {
            let protocol = e.protocol.as_str();
            let categories = categories_column(&e.categories);
            let count = e.count as i32;
            let row: [&(dyn ToSql + Sync); 16] = [
                &e.reference.0,
                &e.time_us,
                &e.site,
                &e.device,
                &e.client_ip,
                &e.user,
                &e.group,
                &protocol,
                &e.host,
                &e.url,
                &e.search,
                &e.action,
                &categories,
                &e.rule,
                &count,
                &e.page_view,
            ];
            writer.write(&row)?;
        }
        writer.finish()?;
        Ok(())
    }
}

fn copy_batch(client: &mut Client, events: &[AccessEvent]) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    Postgres::copy_into(&mut tx, "access_events", events)?;
    tx.commit()?;
    Ok(())
}

fn row_to_event(r: &postgres::Row) -> AccessEvent {
    let protocol: String = r.get(7);
    let categories: String = r.get(12);
    AccessEvent {
        reference: EventRef(r.get(0)),
        time_us: r.get(1),
        site: r.get(2),
        device: r.get(3),
        client_ip: r.get(4),
        user: r.get(5),
        group: r.get(6),
        protocol: Protocol::parse(&protocol).unwrap_or(Protocol::Dns),
        host: r.get(8),
        url: r.get(9),
        search: r.get(10),
        action: r.get(11),
        categories: parse_categories(&categories),
        rule: r.get(13),
        count: r.get::<_, i32>(14) as u32,
        page_view: r.get(15),
    }
}

impl Backend for Postgres {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn migrate(&mut self) -> Result<Vec<u32>, StoreError> {
        let mut applied = Vec::new();
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)",
        )?;
        for (version, name, sql) in MIGRATIONS {
            let v = *version as i32;
            if tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&v],
                )?
                .is_some()
            {
                continue;
            }
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)",
                &[&v, name, &jiff::Timestamp::now().as_microsecond()],
            )?;
            applied.push(*version);
        }
        tx.commit()?;
        self.load_days()?;
        Ok(applied)
    }

    fn insert_events(&mut self, events: &[AccessEvent]) -> Result<(), StoreError> {
        self.ensure_days(events)?;
        if events.len() >= SPLIT_BATCH && self.second.is_none() {
            // Without a second connection the batch still goes in whole.
            self.second = Self::open(&self.connect.0, self.connect.1.as_deref()).ok();
        }
        let Some(second) = self.second.as_mut().filter(|_| events.len() >= SPLIT_BATCH) else {
            return copy_batch(&mut self.client, events);
        };
        // Two transactions: if one fails the writer spills the whole batch,
        // and the replay skips the half that did commit.
        let (a, b) = events.split_at(events.len() / 2);
        let first = &mut self.client;
        let (ra, rb) = std::thread::scope(|scope| {
            let other = scope.spawn(|| copy_batch(second, b));
            let ra = copy_batch(first, a);
            (ra, other.join())
        });
        let rb = rb.unwrap_or_else(|_| Err(StoreError::Invalid("COPY thread panicked".into())));
        if rb.is_err() {
            self.second = None;
        }
        ra.and(rb)
    }

    fn insert_replayed(&mut self, events: &[AccessEvent]) -> Result<(), StoreError> {
        self.ensure_days(events)?;
        let mut tx = self.client.transaction()?;
        // COPY cannot skip duplicates, so through a staging table.
        tx.batch_execute("CREATE TEMP TABLE IF NOT EXISTS access_events_staging (LIKE access_events) ON COMMIT DELETE ROWS")?;
        Self::copy_into(&mut tx, "access_events_staging", events)?;
        tx.batch_execute(&format!(
            "INSERT INTO access_events ({COLUMNS}) SELECT DISTINCT ON (s.time_us, s.reference) {STAGED} FROM access_events_staging s
              WHERE NOT EXISTS (SELECT 1 FROM access_events a WHERE a.time_us = s.time_us AND a.reference = s.reference)"
        ))?;
        tx.commit()?;
        Ok(())
    }

    fn query_events(&mut self, q: &EventQuery) -> Result<Vec<AccessEvent>, StoreError> {
        let (conditions, values) = conditions(q, "ILIKE");
        // The values are bound, never spliced in.
        let mut sql = format!(
            "SELECT {COLUMNS} FROM access_events WHERE TRUE{}",
            numbered_placeholders(&conditions)
        );
        sql.push_str(&format!(
            " ORDER BY time_us DESC, reference DESC LIMIT {}",
            q.page_size()
        ));
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|p| p as _).collect();
        let rows = self.client.query(&sql, &refs)?;
        Ok(rows.iter().map(row_to_event).collect())
    }

    fn drop_days_before(&mut self, day: i32) -> Result<Vec<i32>, StoreError> {
        self.load_days()?;
        let old: Vec<i32> = self.days.iter().copied().filter(|d| *d < day).collect();
        for d in &old {
            self.client
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", partition(*d)))?;
            self.days.remove(d);
        }
        Ok(old)
    }

    fn event_tables(&mut self, _since_us: i64, _until_us: i64) -> Vec<String> {
        vec!["access_events".into()]
    }

    fn days(&mut self) -> Result<Vec<i32>, StoreError> {
        self.load_days()?;
        Ok(self.days.iter().copied().collect())
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let row = self.client.query_one(
            "INSERT INTO audit_log (time_us, actor, action, object, before, after, reason) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&entry.time_us, &entry.actor, &entry.action, &entry.object, &entry.before, &entry.after, &entry.reason],
        )?;
        Ok(row.get(0))
    }

    fn audit_log(&mut self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self.client.query(
            "SELECT time_us, actor, action, object, before, after, reason FROM audit_log ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                time_us: r.get(0),
                actor: r.get(1),
                action: r.get(2),
                object: r.get(3),
                before: r.get(4),
                after: r.get(5),
                reason: r.get(6),
            })
            .collect())
    }

    fn identities(
        &mut self,
    ) -> Result<(Vec<crate::StoredSubnet>, Vec<crate::StoredDevice>), StoreError> {
        let subnets = self
            .client
            .query(crate::SUBNETS_SQL, &[])?
            .iter()
            .map(|r| crate::StoredSubnet {
                subnet: r.get(0),
                group: r.get(1),
                site: r.get(2),
            })
            .collect();
        let devices = self
            .client
            .query(crate::DEVICES_SQL, &[])?
            .iter()
            .map(|r| crate::StoredDevice {
                name: r.get(0),
                doh_token: r.get(1),
                user: r.get(2),
                group: r.get(3),
                site: r.get(4),
            })
            .collect();
        Ok((subnets, devices))
    }

    fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql)?;
        Ok(())
    }

    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self.client.query(&numbered_placeholders(sql), &refs)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let ty = column.type_();
                let value = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)?.map(SqlValue::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)?
                        .map(|v| SqlValue::Int(v.into()))
                } else if *ty == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)?
                        .map(|v| SqlValue::Int(v.into()))
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)?
                        .map(|v| SqlValue::Int(v.into()))
                } else {
                    row.try_get::<_, Option<String>>(i)?.map(SqlValue::Text)
                };
                values.push(value.unwrap_or(SqlValue::Null));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.client.execute(&numbered_placeholders(sql), &refs)?)
    }

    fn check_integrity(&mut self) -> Result<String, StoreError> {
        // PostgreSQL is crash-safe by its WAL; check the tables answer.
        self.client
            .query_one("SELECT count(*) FROM access_events", &[])?;
        Ok("ok".into())
    }
}

/// Shared SQL binds one value type for every column: integers go in as the
/// column's integer width (or as a boolean), text as text.
impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(postgres::types::IsNull::Yes),
            SqlValue::Text(t) => t.as_str().to_sql(ty, out),
            SqlValue::Bytes(b) => b.as_slice().to_sql(ty, out),
            SqlValue::Int(i) => {
                if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else {
                    i.to_sql(ty, out)
                }
            }
        }
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
            || <&[u8] as ToSql>::accepts(ty)
            || <i64 as ToSql>::accepts(ty)
            || <i32 as ToSql>::accepts(ty)
            || <i16 as ToSql>::accepts(ty)
            || <bool as ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}
