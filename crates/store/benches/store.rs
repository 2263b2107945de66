//! Store benchmarks: batch inserts on each backend, and one user's day out
//! of a large log.
//!
//! - `insert/<backend>`: 5,000-event batches into a fresh store (PostgreSQL
//!   when `TUTELA_TEST_DATABASE_URL` is set).
//! - `user_day/<backend>/{first_page,whole_day}`: one user's day, newest
//!   first (the first 100 rows, and all of them), from a store that
//!   `scripts/bench-store.sh` filled: `TUTELA_BENCH_SQLITE` (path of the
//!   database file) and `TUTELA_BENCH_PG_SCHEMA` (schema on the server above).
//!   `TUTELA_BENCH_USER` and `TUTELA_BENCH_DAY` (YYYY-MM-DD) pick the day.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tutela_store::{AccessEvent, EventQuery, EventRef, Protocol, StoreConfig};

const BATCH: usize = 5_000;

fn event(reference: i64, time_us: i64) -> AccessEvent {
    AccessEvent {
        reference: EventRef(reference),
        time_us,
        site: Some("main".into()),
        device: Some(format!("device-{}", reference % 800)),
        client_ip: format!("10.0.{}.{}", (reference / 256) % 256, reference % 256),
        user: Some(format!("pupil{:04}", reference % 1_500)),
        group: Some("pupils".into()),
        protocol: Protocol::Https,
        host: b"www.bbc.co.uk".to_vec(),
        url: Some(format!("https://www.bbc.co.uk/news/{reference}").into_bytes()),
        search: None,
        action: "allow".into(),
        categories: vec![],
        rule: "default".into(),
        count: 1,
        page_view: true,
    }
}

fn bench_insert(c: &mut Criterion) {
    let mut stores = Vec::new();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    stores.push(("sqlite", StoreConfig::Sqlite(dir.path().join("bench.db"))));
    if let Ok(url) = std::env::var("TUTELA_TEST_DATABASE_URL") {
        let schema = format!("bench_insert_{}", std::process::id());
        stores.push((
            "postgres",
            StoreConfig::Postgres {
                url,
                schema: Some(schema),
            },
        ));
    } else {
        eprintln!("*** insert/postgres skipped: set TUTELA_TEST_DATABASE_URL ***");
    }
    let mut group = c.benchmark_group("insert");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for (name, store) in &stores {
        let mut db = store.open().unwrap_or_else(|e| panic!("{name}: {e}"));
        db.migrate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut next = 0i64;
        let now = jiff::Timestamp::now().as_microsecond();
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<AccessEvent> = (0..BATCH as i64)
                        .map(|i| event(next + i, now + next + i))
                        .collect();
                    next += BATCH as i64;
                    let started = Instant::now();
                    db.insert_events(&batch).unwrap_or_else(|e| panic!("{e}"));
                    total += started.elapsed();
                }
                total
            })
        });
        if let StoreConfig::Postgres {
            schema: Some(s), ..
        } = store
        {
            let _ = db.execute_raw(&format!("DROP SCHEMA {s} CASCADE"));
        }
    }
    group.finish();
}

fn bench_user_day(c: &mut Criterion) {
    let user = std::env::var("TUTELA_BENCH_USER").unwrap_or_else(|_| "pupil0042".into());
    let day = std::env::var("TUTELA_BENCH_DAY")
        .ok()
        .and_then(|d| d.parse::<jiff::civil::Date>().ok());
    let mut stores = Vec::new();
    if let Ok(path) = std::env::var("TUTELA_BENCH_SQLITE") {
        stores.push(("sqlite", StoreConfig::Sqlite(path.into())));
    }
    if let (Ok(url), Ok(schema)) = (
        std::env::var("TUTELA_TEST_DATABASE_URL"),
        std::env::var("TUTELA_BENCH_PG_SCHEMA"),
    ) {
        stores.push((
            "postgres",
            StoreConfig::Postgres {
                url,
                schema: Some(schema),
            },
        ));
    }
    if stores.is_empty() {
        eprintln!(
            "*** user_day skipped: run scripts/bench-store.sh, which fills a large store first ***"
        );
        return;
    }
    let day = day.unwrap_or_else(|| {
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    });
    let start = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap_or_else(|e| panic!("{e}"))
        .timestamp();
    let day_query = EventQuery {
        user: Some(user),
        since_us: Some(start.as_microsecond()),
        until_us: Some(start.as_microsecond() + 86_400_000_000),
        ..Default::default()
    };
    // The first page is what a person looking at the log sees; the whole
    // day is what an export or a chronology reads.
    let first_page = EventQuery {
        limit: 100,
        ..day_query.clone()
    };
    let mut group = c.benchmark_group("user_day");
    group.sample_size(20);
    for (name, store) in &stores {
        let mut db = store.open().unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = db
            .query_all(&day_query)
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
        eprintln!(
            "user_day/{name}: {rows} rows for {:?} on {day}",
            day_query.user
        );
        assert!(
            rows > 0,
            "no events for that user and day: pick TUTELA_BENCH_USER/TUTELA_BENCH_DAY with data"
        );
        group.bench_function(format!("{name}/first_page"), |b| {
            b.iter(|| {
                db.query_events(&first_page)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .len()
            })
        });
        group.bench_function(format!("{name}/whole_day"), |b| {
            b.iter(|| {
                db.query_all(&day_query)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_insert, bench_user_day);
criterion_main!(benches);
