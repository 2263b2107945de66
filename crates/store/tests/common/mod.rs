//! Test backends: a fresh SQLite file, and a fresh PostgreSQL schema on the
//! server named by `TUTELA_TEST_DATABASE_URL` (skipped, loudly, without it).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use tutela_store::{AccessEvent, Backend, EventRef, Protocol, StoreConfig};

pub struct TestStore {
    pub config: StoreConfig,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    )
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    t % 1_000_000
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("TUTELA_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("\n*** SKIPPED: PostgreSQL tests need TUTELA_TEST_DATABASE_URL (scripts/test.sh sets it) ***\n");
            None
        }
    }
}

/// Every backend available here, each fresh and migrated.
pub fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![TestStore {
        config: StoreConfig::Sqlite(dir.path().join("tutela.db")),
        name: "sqlite",
        _dir: Some(dir),
    }];
    if let Some(url) = postgres_url() {
        out.push(TestStore {
            config: StoreConfig::Postgres {
                url,
                schema: Some(unique("t")),
            },
            name: "postgres",
            _dir: None,
        });
    }
    for s in &out {
        s.open().migrate().unwrap();
    }
    out
}

impl TestStore {
    pub fn open(&self) -> Box<dyn Backend> {
        self.config.open().unwrap()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let StoreConfig::Postgres {
            url,
            schema: Some(schema),
        } = &self.config
        {
            if let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// An ordinary event at `time_us`.
pub fn event(reference: i64, time_us: i64) -> AccessEvent {
    AccessEvent {
        reference: EventRef(reference),
        time_us,
        site: Some("main".into()),
        device: Some("laptop-7".into()),
        client_ip: "10.1.2.3".into(),
        user: Some("alice".into()),
        group: Some("pupils".into()),
        protocol: Protocol::Https,
        host: b"www.example.com".to_vec(),
        url: Some(b"https://www.example.com/".to_vec()),
        search: None,
        action: "allow".into(),
        categories: vec![],
        rule: "default".into(),
        count: 1,
        page_view: true,
    }
}

pub fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}
