//! The access log from the command line: `tutela log`, `tutela db ...`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use jiff::Timestamp;
use tutela_store::{
    search_terms, AccessEvent, EventQuery, EventRef, Protocol, RefGenerator, StoreError, Writer,
};

use crate::config::Config;

/// Filters of `tutela log`, as typed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub ip: Option<String>,
    #[arg(long)]
    pub device: Option<String>,
    /// The school site.
    #[arg(long)]
    pub site: Option<String>,
    /// A website: this host and every name under it.
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub group: Option<String>,
    /// RFC 3339, a date (2026-12-01, UTC), or a span back from now (90m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// As --since; exclusive.
    #[arg(long)]
    pub until: Option<String>,
    /// allow, block or safesearch.
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    /// Text within the search terms (case-insensitive).
    #[arg(long)]
    pub search: Option<String>,
    /// Rows at most (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV, with spreadsheet formulas neutralised.
    #[arg(long)]
    pub csv: bool,
}

/// A time as typed on the command line.
pub fn parse_when(text: &str) -> Result<i64> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t.as_microsecond());
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        let z = d.to_zoned(jiff::tz::TimeZone::UTC)?;
        return Ok(z.timestamp().as_microsecond());
    }
    if let Ok(span) = crate::config::parse_duration(text) {
        return Ok(Timestamp::now().as_microsecond() - span.as_micros() as i64);
    }
    bail!("`{text}` is not a time: use RFC 3339, a date like 2026-12-01, or a span like 24h")
}

pub fn log(config: &Config, args: &LogArgs) -> Result<()> {
    let query = EventQuery {
        user: args.user.clone(),
        ip: args.ip.clone(),
        device: args.device.clone(),
        site: args.site.clone(),
        host: args.host.clone(),
        group: args.group.clone(),
        since_us: args
            .since
            .as_deref()
            .map(parse_when)
            .transpose()
            .context("--since")?,
        until_us: args
            .until
            .as_deref()
            .map(parse_when)
            .transpose()
            .context("--until")?,
        action: args.action.clone(),
        category: args.category.clone(),
        search: args.search.clone(),
        limit: args.limit,
        before: None,
    };
    let store = config.store_config();
    let mut db = store.open().context("cannot open the event store")?;
    db.migrate().context("cannot migrate the event store")?;
    let mut out = std::io::stdout().lock();
    let mut header_done = false;
    let mut output_error = None;
    let paged = db.for_each_page(&query, args.limit.max(1), &mut |page| {
        let written = if args.csv {
            let mut buf = Vec::new();
            tutela_store::write_csv(&mut buf, page)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            // Every page's CSV carries the header; print it once.
            let body = if header_done {
                buf.splitn(2, |b| *b == b'\n').nth(1).unwrap_or_default()
            } else {
                &buf[..]
            };
            header_done = true;
            out.write_all(body)
        } else {
            page.iter().try_for_each(|e| {
                if args.json {
                    writeln!(out, "{}", e.to_json())
                } else {
                    writeln!(out, "{}", event_line(e))
                }
            })
        };
        written.map_err(|e| {
            output_error = Some(e);
            StoreError::Invalid("output closed".into())
        })
    });
    // A closed pipe (`tutela log | head`) is an io::Error the caller knows.
    if let Some(e) = output_error {
        return Err(e.into());
    }
    paged?;
    Ok(())
}

/// One line for a person; hostile text is escaped.
fn event_line(e: &AccessEvent) -> String {
    let time = Timestamp::from_microsecond(e.time_us)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let what = e.url.as_deref().unwrap_or(&e.host);
    let mut line = format!(
        "{time}  {:<10} {:<12} {:<15} {}  [{}]  ref {}",
        e.action.to_uppercase(),
        crate::escape_for_terminal(e.user.as_deref().unwrap_or("-")),
        crate::escape_for_terminal(&e.client_ip),
        crate::escape_for_terminal(&String::from_utf8_lossy(what)),
        e.categories.join(", "),
        e.reference
    );
    if let Some(s) = &e.search {
        line.push_str(&format!("  search: {}", crate::escape_for_terminal(s)));
    }
    if e.count > 1 {
        line.push_str(&format!("  (x{})", e.count));
    }
    if e.page_view {
        line.push_str("  (page view)");
    }
    line
}

/// Starts the writer on the configured store, replaying any journal.
///
/// A database that is down does not stop it: events go to the journal until
/// the database answers, and every (re)connection applies any migrations
/// still missing.
pub fn start_writer(config: &Config) -> Result<Writer> {
    let store = config.store_config();
    let connect = Box::new(move || {
        let mut db = store.open()?;
        db.migrate()?;
        Ok(db)
    });
    Ok(Writer::start(config.writer_config()?, connect)?)
}

pub fn migrate(config: &Config) -> Result<()> {
    let mut db = config
        .store_config()
        .open()
        .context("cannot open the event store")?;
    let applied = db.migrate()?;
    if applied.is_empty() {
        println!("{}: schema up to date", db.kind());
    } else {
        println!("{}: applied migrations {applied:?}", db.kind());
    }
    Ok(())
}

/// Writes what an earlier run left in the journal, then stops.
pub fn replay(config: &Config) -> Result<()> {
    let writer = start_writer(config)?;
    let stats = writer.shutdown();
    println!("{}", serde_json::to_string(&stats)?);
    if stats.dropped > 0 {
        bail!("{} events could not be kept", stats.dropped);
    }
    Ok(())
}

/// Synthetic traffic through the real writer, for benchmarks and the crash
/// test: `seconds` long (or `events` many), at `rate` per second (0: as fast
/// as the store takes them, without spilling), optionally spread over past days. Event `n` has the URL
/// `http://load.test/n`.
pub fn load_test(
    config: &Config,
    events: u64,
    rate: u64,
    seconds: u64,
    spread_days: u64,
) -> Result<()> {
    let writer = start_writer(config)?;
    let sink = writer.sink().context("writer has no sink")?;
    let refs = RefGenerator::default();
    // Events are cloned from templates, so the generator costs little next
    // to the store it measures.
    let templates: Vec<AccessEvent> = (0..TEMPLATES).map(template).collect();
    let started = Instant::now();
    let limit = Duration::from_secs(seconds.max(1));
    let mut n: u64 = 0;
    while (events == 0 || n < events) && started.elapsed() < limit {
        if rate > 0 {
            let due = Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait.min(Duration::from_millis(5)));
                continue;
            }
        }
        if rate == 0 && n.is_multiple_of(1024) {
            // As fast as the store takes them: keep the queue from
            // overflowing, so this measures the database, not the journal.
            loop {
                let s = sink.stats();
                if s.queued.saturating_sub(s.written) < (config.store.queue_capacity / 2) as u64 {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        sink.record(synthetic_event(&templates, &refs, n, spread_days.max(1)));
        n += 1;
    }
    drop(sink);
    let generated = started.elapsed();
    let stats = writer.shutdown();
    let total = started.elapsed();
    println!(
        "{}",
        serde_json::json!({
            "events": n,
            "generate_seconds": generated.as_secs_f64(),
            "total_seconds": total.as_secs_f64(),
            "events_per_second": n as f64 / total.as_secs_f64(),
            "stats": stats,
        })
    );
    Ok(())
}

const HOSTS: [&str; 8] = [
    "www.bbc.co.uk",
    "www.google.co.uk",
    "classroom.google.com",
    "www.youtube.com",
    "en.wikipedia.org",
    "0-casino.info",
    "www.bing.com",
    "cdn.example.net",
];

const TEMPLATES: u64 = 12_000;

/// The varied part of synthetic traffic: 1,500 pupils on 800 devices, eight
/// hosts, search terms on the search engines, one host blocked.
fn template(n: u64) -> AccessEvent {
    let host = HOSTS[(n % HOSTS.len() as u64) as usize];
    let path = match host {
        "www.google.co.uk" | "www.bing.com" => format!("/search?q=homework+help+{}", n % 97),
        "www.youtube.com" => format!("/results?search_query=music+{}", n % 31),
        _ => "/".to_string(),
    };
    let blocked = host == "0-casino.info";
    AccessEvent {
        reference: EventRef(0),
        time_us: 0,
        site: Some("main".into()),
        device: Some(format!("device-{}", n % 800)),
        client_ip: format!("10.{}.{}.{}", (n / 65_536) % 256, (n / 256) % 256, n % 256),
        user: Some(format!("pupil{:04}", n % 1_500)),
        group: Some("pupils".into()),
        protocol: Protocol::Https,
        host: host.as_bytes().to_vec(),
        url: Some(format!("https://{host}{path}").into_bytes()),
        search: search_terms(host, &path),
        action: if blocked { "block" } else { "allow" }.into(),
        categories: if blocked {
            vec!["gambling".into()]
        } else {
            vec![]
        },
        rule: if blocked {
            "group-block-category"
        } else {
            "default"
        }
        .into(),
        count: 1,
        page_view: !blocked,
    }
}

/// Event `n`: a template with its own reference, time and URL
/// (`http://load.test/n?via=...`). With `days` > 1, times cycle through that
/// many past days, at the same time of day, so each day holds a share.
fn synthetic_event(
    templates: &[AccessEvent],
    refs: &RefGenerator,
    n: u64,
    days: u64,
) -> AccessEvent {
    let time_us = Timestamp::now().as_microsecond() - ((n % days) as i64) * 86_400_000_000;
    // Pupils and days vary independently, so every pupil has a share of
    // every day, as in a school.
    let mut e = templates[((n / days) % templates.len() as u64) as usize].clone();
    e.reference = refs.next(time_us);
    e.time_us = time_us;
    let mut url = format!("http://load.test/{n}?via=").into_bytes();
    url.extend_from_slice(e.url.as_deref().unwrap_or_default());
    e.url = Some(url);
    e
}
