//! `tutela`: the command line, and the one place that wires lists, policy
//! and (later) listeners and the store together.

mod config;
mod console;
mod dns;
mod events;
mod monitoring;
mod policy_load;
mod proxy;

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jiff::Timestamp;
use tutela_lists::LoadReport;
use tutela_policy::{Engine, Identity, Snapshot, Target, Verdict};

use crate::config::Config;
use crate::policy_load::{load, Mode};

#[derive(Parser)]
#[command(
    name = "tutela",
    version,
    about = "Online safety for schools: filter, monitor, record"
)]
struct Cli {
    /// The configuration file; without one, the embedded defaults apply.
    #[arg(long, global = true, env = "TUTELA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Tutela: load and refresh the lists and keep the policy current.
    Serve,
    /// Print the verdict for each URL or host.
    Check {
        /// Decide as this group (default: by --ip, else the default group).
        #[arg(long)]
        group: Option<String>,
        /// Decide for this client address, through the identity mappings.
        #[arg(long)]
        ip: Option<IpAddr>,
        /// Decide for this user (matters for per-user overrides).
        #[arg(long)]
        user: Option<String>,
        /// Decide as at this time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(required = true, value_name = "URL_OR_HOST")]
        targets: Vec<String>,
    },
    /// Category lists.
    Lists {
        #[command(subcommand)]
        command: ListsCommand,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Search the access log: who went where, when, and what was blocked.
    Log(events::LogArgs),
    /// The event store.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Read a password on standard input and print its argon2id hash, for
    /// `[[policy.accounts]]` (never put the password on the command line).
    HashPassword,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or update the schema.
    Migrate,
    /// Write events an earlier run left in the spill journal, then stop.
    Replay,
    /// Synthetic events through the real writer, for benchmarks and crash
    /// tests. Event n has the URL http://load.test/n.
    LoadTest {
        /// Stop after this many events (0: no limit).
        #[arg(long, default_value_t = 0)]
        events: u64,
        /// Events per second (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Spread event times over this many past days (1: all now).
        #[arg(long, default_value_t = 1)]
        spread_days: u64,
    },
}

#[derive(Subcommand)]
enum ListsCommand {
    /// Per-category entry counts, malformed lines and load time.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Fetch every URL source now, keeping the last good copy on failure.
    Update,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the documented example configuration (the defaults).
    Example,
    /// Check a configuration file and report the first error.
    Check,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve
        | Command::Db { .. }
        | Command::Lists {
            command: ListsCommand::Update,
        } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TUTELA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tutela: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// `tutela check ... | head` closes the pipe early; that is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(config),
        Command::Check {
            group,
            ip,
            user,
            at,
            json,
            targets,
        } => check(&config, group, ip, user, at, json, &targets),
        Command::Lists { command } => match command {
            ListsCommand::Stats { json } => {
                let loaded = load(&config, Mode::ReadOnly)?;
                print_stats(&loaded.snapshot, &loaded.lists, &loaded.illegal, json)?;
                Ok(std::process::ExitCode::SUCCESS)
            }
            ListsCommand::Update => {
                let loaded = load(&config, Mode::Refresh)?;
                print_stats(&loaded.snapshot, &loaded.lists, &loaded.illegal, false)?;
                Ok(std::process::ExitCode::SUCCESS)
            }
        },
        Command::Log(args) => {
            events::log(&config, &args)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Db { command } => {
            match command {
                DbCommand::Migrate => events::migrate(&config)?,
                DbCommand::Replay => events::replay(&config)?,
                DbCommand::LoadTest {
                    events,
                    rate,
                    seconds,
                    spread_days,
                } => events::load_test(&config, events, rate, seconds, spread_days)?,
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::HashPassword => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                anyhow::bail!("no password on standard input");
            }
            let hash = tutela_proxy::auth::hash_password(password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            println!("{hash}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Config { command } => match command {
            ConfigCommand::Example => {
                print!("{}", config::EXAMPLE);
                Ok(std::process::ExitCode::SUCCESS)
            }
            ConfigCommand::Check => {
                let snapshot = load(&config, Mode::ReadOnly)?.snapshot;
                for w in snapshot.warnings() {
                    println!("warning: {w}");
                }
                println!("configuration is valid");
                Ok(std::process::ExitCode::SUCCESS)
            }
        },
    }
}

fn check(
    config: &Config,
    group: Option<String>,
    ip: Option<IpAddr>,
    user: Option<String>,
    at: Option<String>,
    json: bool,
    targets: &[String],
) -> Result<std::process::ExitCode> {
    let at = match at {
        Some(t) => t
            .parse::<Timestamp>()
            .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?,
        None => Timestamp::now(),
    };
    let snapshot = load(config, Mode::ReadOnly)?.snapshot;
    let group_name = match (&group, ip) {
        (Some(g), _) => {
            snapshot
                .group_named(g)
                .with_context(|| format!("--group {g:?}: no such group"))?;
            Some(g.clone())
        }
        (None, Some(ip)) => snapshot
            .group(snapshot.identify(ip).0)
            .map(|g| g.name.clone()),
        (None, None) => None,
    };
    let identity = Identity {
        group: group_name.as_deref(),
        user: user.as_deref(),
    };
    let mut out = std::io::stdout().lock();
    let mut bad = false;
    for text in targets {
        match Target::parse(text) {
            Ok(target) => {
                let v = snapshot.decide(&identity, &target, at);
                write_verdict(&mut out, &snapshot, text, &v, json)?;
            }
            Err(e) => {
                bad = true;
                if json {
                    let line = serde_json::json!({ "target": text, "error": e.to_string() });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(out, "ERROR      {}  {e}", escape_for_terminal(text))?;
                }
            }
        }
    }
    Ok(if bad {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    })
}

fn write_verdict(
    out: &mut impl Write,
    snapshot: &Snapshot,
    text: &str,
    v: &Verdict,
    json: bool,
) -> Result<()> {
    let e = snapshot.explain(text, v);
    if json {
        writeln!(out, "{}", serde_json::to_string(&e)?)?;
    } else {
        writeln!(
            out,
            "{:<10} {}  [{}]  {}: {}",
            e.action.to_uppercase(),
            escape_for_terminal(text),
            e.categories.join(", "),
            e.rule,
            escape_for_terminal(&e.reason),
        )?;
    }
    Ok(())
}

/// Targets and list entries are hostile input: control characters would
/// let them rewrite a terminal, so they are shown escaped.
pub(crate) fn escape_for_terminal(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn print_stats(
    snapshot: &Snapshot,
    lists: &LoadReport,
    illegal: &LoadReport,
    json: bool,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "lists": lists, "illegal": illegal });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    let index = snapshot.index();
    writeln!(
        out,
        "{} domain names listed, {} stored ({} covered by a listed parent), {} URL prefixes, {:.1} MiB domain table ({:.1} bytes per listed name), compiled in {} ms",
        lists.listed_domains,
        lists.domain_entries,
        lists.listed_domains.saturating_sub(lists.domain_entries),
        lists.url_prefixes,
        lists.domain_table_bytes as f64 / (1 << 20) as f64,
        lists.domain_table_bytes as f64 / lists.listed_domains.max(1) as f64,
        lists.elapsed_ms
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:>10} {:>8} {:>6}  name",
        "category", "domains", "urls", "regex"
    )?;
    // Entries as the lists give them, summed over sources.
    let mut listed: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for s in &lists.sources {
        for c in &s.categories {
            let e = listed.entry(c.category.as_str()).or_default();
            e.0 += c.domains;
            e.1 += c.url_prefixes;
            e.2 += c.expressions;
        }
    }
    for (name, (domains, urls, exprs)) in listed {
        let display = index
            .categories()
            .get(name)
            .and_then(|id| index.categories().info(id))
            .and_then(|i| i.display_name.as_deref())
            .unwrap_or("");
        writeln!(
            out,
            "{name:<28} {domains:>10} {urls:>8} {exprs:>6}  {display}"
        )?;
    }
    for (title, report) in [("Sources", lists), ("Illegal-content tier", illegal)] {
        writeln!(out)?;
        writeln!(out, "{title}:")?;
        if report.sources.is_empty() {
            writeln!(out, "  (none configured)")?;
        }
        for s in &report.sources {
            let status = match &s.status {
                tutela_lists::SourceStatus::Loaded => "loaded".to_string(),
                tutela_lists::SourceStatus::LastGood { reason } => {
                    format!("LAST GOOD COPY (fresh copy failed: {reason})")
                }
                tutela_lists::SourceStatus::Failed { reason } => format!("FAILED: {reason}"),
            };
            writeln!(
                out,
                "  {}  {}  {}  entries={} malformed={} skipped_public_suffix={} unsupported={} load_ms={}",
                s.name,
                escape_for_terminal(&s.location),
                status,
                s.entries(),
                s.malformed,
                s.skipped_public_suffix,
                s.unsupported,
                s.elapsed_ms
            )?;
            for m in &s.malformed_examples {
                writeln!(
                    out,
                    "    malformed {}:{}: {} ({})",
                    escape_for_terminal(&m.file),
                    m.line,
                    m.reason,
                    escape_for_terminal(&m.text)
                )?;
            }
            for e in &s.skipped_examples {
                writeln!(out, "    skipped {}", escape_for_terminal(e))?;
            }
        }
    }
    Ok(())
}

fn serve(config: Config) -> Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_async(config))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn serve_async(config: Config) -> Result<()> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    tracing::info!(data_dir = %config.data_dir.display(), "starting");
    // Start at once from the cache, then fetch in the background.
    let first = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || load(&config, Mode::Cached)).await??
    };

    let writer = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || events::start_writer(&config)).await??
    };
    let engine = Arc::new(Engine::new(first.snapshot));
    log_loaded(&first.lists, engine.snapshot().generation());
    let monitoring = monitoring::Monitoring::start(&config, writer.sink().as_ref())?;
    let (log, observer) = match &monitoring {
        Some(m) => (
            m.tap(writer.sink()),
            Some(Arc::new(m.watcher.clone()) as Arc<dyn tutela_proxy::ContentObserver>),
        ),
        None => (writer.sink(), None),
    };
    let dns = dns::Dns::start(&config, engine.clone(), log.clone()).await?;
    let proxy = proxy::ProxyListener::start(&config, engine.clone(), log, observer).await?;
    let console = console::ConsoleListener::start(
        config.clone(),
        engine.clone(),
        proxy.server.addr,
        Some(proxy.ca_pem.clone()),
        monitoring.as_ref().map(|m| m.reloader()),
    )
    .await?;
    let interval = config.lists.refresh_interval()?;
    let refresher = {
        let (engine, config) = (engine.clone(), config.clone());
        // The start read the cache; only URL sources can have news yet.
        // Local files are read again at the next refresh.
        let fetch_now = config
            .lists
            .sources
            .iter()
            .chain(&config.illegal)
            .any(|s| s.url.is_some());
        tokio::spawn(async move {
            if !fetch_now {
                tokio::time::sleep(interval).await;
            }
            loop {
                let config = config.clone();
                match tokio::task::spawn_blocking(move || load(&config, Mode::Refresh)).await {
                    Ok(Ok(loaded)) => {
                        let generation = engine.install(loaded.snapshot);
                        log_loaded(&loaded.lists, generation);
                    }
                    Ok(Err(e)) => {
                        tracing::error!("reload failed, keeping the current policy: {e:#}")
                    }
                    Err(e) => {
                        tracing::error!("reload task failed, keeping the current policy: {e}")
                    }
                }
                tokio::time::sleep(interval).await;
            }
        })
    };
    // The counters, where an administrator will look for them.
    let counters = {
        let sink = writer.sink();
        let filter = dns.filter.clone();
        let proxy = proxy.proxy.clone();
        tokio::spawn(async move {
            let (mut last_store, mut last_dns, mut last_proxy) = (None, None, None);
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(300)).await;
                if let Some(sink) = &sink {
                    let stats = sink.stats();
                    if last_store != Some(stats) {
                        tracing::info!(?stats, "event store counters");
                        last_store = Some(stats);
                    }
                }
                let counts = filter.stats.counts();
                if last_dns != Some(counts) {
                    let upstreams = filter.upstreams().status();
                    tracing::info!(
                        ?counts,
                        cached = filter.cache_len(),
                        ?upstreams,
                        "DNS counters"
                    );
                    last_dns = Some(counts);
                }
                let counts = proxy.stats.counts();
                if last_proxy != Some(counts) {
                    tracing::info!(?counts, "proxy counters");
                    last_proxy = Some(counts);
                }
            }
        })
    };
    tracing::info!(
        console = %format!("http://{}/", console.addr),
        "running; open the console to set up the first administrator. Ctrl-C stops."
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    refresher.abort();
    console.stop().await;
    // The counters' sink and the filter's must be gone before the writer
    // can finish.
    counters.abort();
    let _ = counters.await;
    // Ends the proxy's connections and tunnels, which hold event sinks.
    proxy.server.shutdown();
    drop(proxy.proxy);
    tokio::task::spawn_blocking(move || dns.stop()).await?;
    let stats = tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    if let Some(m) = monitoring {
        tokio::task::spawn_blocking(move || m.shutdown()).await?;
    }
    tracing::info!(?stats, "event writer stopped");
    tracing::info!("stopped");
    Ok(())
}

fn log_loaded(lists: &LoadReport, generation: u64) {
    tracing::info!(
        generation,
        listed = lists.listed_domains,
        stored = lists.domain_entries,
        url_prefixes = lists.url_prefixes,
        malformed = lists.malformed(),
        elapsed_ms = lists.elapsed_ms,
        "policy loaded"
    );
}
