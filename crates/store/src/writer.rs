//! The event writer: one thread that batches events into the database, so
//! the filtering path never waits on it.
//!
//! ```text
//! listener ─record()─▶ bounded queue ─▶ writer thread ─batch─▶ database
//!              │ full                        │ database down
//!              ▼                             ▼
//!          spill journal ◀────────────────────┘ ── replayed when the database is back
//! ```
//!
//! Each batch is written ahead to a journal file of its own before the
//! database sees it, and the file is removed once the batch commits; when
//! the writer has not come back from the database within the flush interval,
//! listeners' events go straight to the journal. A crash therefore loses at
//! most about one flush interval of events, however slow the database is.
//!
//! Nothing is dropped silently: [`WriterStats`] counts every event queued,
//! written, spilled, replayed, folded and dropped, and `dropped` only grows
//! when the journal itself cannot be written (a full disk), which is logged
//! as an error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::{AccessEvent, Protocol};
use crate::journal::{self, Journal, JournalError};
use crate::{Backend, StoreError};

/// How the writer batches, spills and keeps.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Events per database batch, at most.
    pub batch_size: usize,
    /// The longest an event waits before its batch is written (or spilled
    /// and flushed to the OS). This bounds what `kill -9` can lose.
    pub flush_interval: Duration,
    /// Events the queue holds before new ones spill to the journal.
    pub queue_capacity: usize,
    pub journal_dir: PathBuf,
    /// Fold identical allowed DNS lookups by one client within this window
    /// into one event with a count. Zero: never fold. Blocks never fold.
    pub fold_window: Duration,
    /// Days of events kept; older days are dropped whole. Zero: keep all.
    pub retention_days: u32,
    /// Wait between attempts to reconnect to a database that is down.
    pub reconnect_every: Duration,
}

impl WriterConfig {
    pub fn new(journal_dir: PathBuf) -> Self {
        WriterConfig {
            batch_size: 50_000,
            flush_interval: Duration::from_millis(250),
            queue_capacity: 100_000,
            journal_dir,
            fold_window: Duration::ZERO,
            retention_days: 90,
            reconnect_every: Duration::from_secs(1),
        }
    }
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub queued: AtomicU64,
    pub written: AtomicU64,
    pub spilled: AtomicU64,
    pub replayed: AtomicU64,
    pub folded: AtomicU64,
    pub dropped: AtomicU64,
    /// Whole bytes at the end of journal files that a crash tore; the events
    /// in them never reached the database.
    pub torn_bytes: AtomicU64,
    pub database_errors: AtomicU64,
}

/// A plain copy of [`WriterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub queued: u64,
    pub written: u64,
    pub spilled: u64,
    pub replayed: u64,
    pub folded: u64,
    pub dropped: u64,
    pub torn_bytes: u64,
    pub database_errors: u64,
}

impl WriterStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            queued: g(&self.queued),
            written: g(&self.written),
            spilled: g(&self.spilled),
            replayed: g(&self.replayed),
            folded: g(&self.folded),
            dropped: g(&self.dropped),
            torn_bytes: g(&self.torn_bytes),
            database_errors: g(&self.database_errors),
        }
    }
}

/// Opens a backend; called again after the database was lost.
pub type Connect = Box<dyn Fn() -> Result<Box<dyn Backend>, StoreError> + Send>;

struct Shared {
    journal: Mutex<Journal>,
    stats: WriterStats,
    last_drop_report: Mutex<Option<Instant>>,
    /// When the writer last came back from the database, in nanoseconds
    /// since `epoch`. If that is longer ago than `stall_limit`, the queue is
    /// not draining and new events go to the journal instead, so a crash
    /// while the database is slow still loses at most `stall_limit`.
    epoch: Instant,
    last_progress_ns: AtomicU64,
    stall_limit: Duration,
}

impl Shared {
    fn mark_progress(&self) {
        let ns = self.epoch.elapsed().as_nanos() as u64;
        self.last_progress_ns.store(ns, Ordering::Relaxed);
    }

    fn stalled(&self) -> bool {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let last = self.last_progress_ns.load(Ordering::Relaxed);
        now.saturating_sub(last) > self.stall_limit.as_nanos() as u64
    }
}

impl Shared {
    fn spill(&self, events: &[AccessEvent]) {
        let Ok(mut journal) = self.journal.lock() else {
            return self.drop_events(events.len() as u64, 0, "journal lock poisoned");
        };
        for e in events {
            match journal.append(e) {
                Ok(()) => {
                    self.stats.spilled.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => self.drop_events(1, err.lost_buffered(), &err.to_string()),
            }
        }
    }

    /// `n` events never made it; `unspilled` that were counted as spilled
    /// were lost with a failed journal buffer.
    fn drop_events(&self, n: u64, unspilled: u64, why: &str) {
        if unspilled > 0 {
            self.stats.spilled.fetch_sub(unspilled, Ordering::Relaxed);
        }
        let n = n + unspilled;
        let total = self.stats.dropped.fetch_add(n, Ordering::Relaxed) + n;
        if let Ok(mut last) = self.last_drop_report.lock() {
            if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::error!(dropped_total = total, reason = why, "ACCESS EVENTS DROPPED: the spill journal cannot be written (is the disk full?)");
            }
        }
    }

    fn flush_journal(&self) {
        let result = match self.journal.lock() {
            Ok(mut j) => j.flush(),
            Err(_) => return,
        };
        if let Err(e) = result {
            self.drop_events(0, e.lost_buffered(), &e.to_string());
        }
    }
}

/// Lowers the calling thread's CPU priority (nice 10), so that when the
/// machine is busy, answering queries and requests comes before writing
/// their log: the queue and the journal absorb the difference.
fn yield_to_listeners() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
        };
        if rc != 0 {
            tracing::debug!("cannot lower the event writer's priority");
        }
    }
}

/// The handle listeners log through. Cheap to clone; never blocks on the
/// database.
#[derive(Clone)]
pub struct EventSink {
    tx: SyncSender<AccessEvent>,
    shared: Arc<Shared>,
    tap: Option<EventTap>,
}

/// Sees every event as it is logged (the monitor watches blocked attempts
/// and search terms here, whichever listener saw them). It runs on the
/// listener's thread, so it must be quick.
pub type EventTap = Arc<dyn Fn(&AccessEvent) + Send + Sync>;

impl EventSink {
    /// The same sink, with `tap` shown every event.
    pub fn with_tap(&self, tap: EventTap) -> EventSink {
        EventSink {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            tap: Some(tap),
        }
    }

    /// Logs one event: onto the queue, or into the journal if the queue is
    /// full.
    pub fn record(&self, event: AccessEvent) {
        if let Some(tap) = &self.tap {
            tap(&event);
        }
        if self.shared.stalled() {
            self.shared.spill(std::slice::from_ref(&event));
            return;
        }
        match self.tx.try_send(event) {
            Ok(()) => {
                self.shared.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(e)) | Err(TrySendError::Disconnected(e)) => {
                self.shared.spill(std::slice::from_ref(&e));
            }
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }
}

/// The running writer. Dropping every [`EventSink`] and calling
/// [`Writer::shutdown`] writes what is left and stops.
pub struct Writer {
    sink: Option<EventSink>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer thread. Journal files left by an earlier run are
    /// replayed as soon as the database answers.
    pub fn start(config: WriterConfig, connect: Connect) -> Result<Writer, JournalError> {
        let mut journal = Journal::open(&config.journal_dir)?;
        journal.set_max_delay(config.flush_interval);
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            journal: Mutex::new(journal),
            stats: WriterStats::default(),
            last_drop_report: Mutex::new(None),
            epoch: Instant::now(),
            last_progress_ns: AtomicU64::new(0),
            stall_limit: config.flush_interval,
        });
        let worker = Worker {
            config,
            connect,
            db: None,
            last_attempt: None,
            shared: shared.clone(),
            folds: HashMap::new(),
            last_retention: None,
        };
        let thread = std::thread::Builder::new()
            .name("tutela-event-writer".into())
            .spawn(move || {
                yield_to_listeners();
                worker.run(rx)
            })
            .map_err(|source| JournalError::Io {
                path: PathBuf::from("<writer thread>"),
                source,
            })?;
        Ok(Writer {
            sink: Some(EventSink {
                tx,
                shared: shared.clone(),
                tap: None,
            }),
            thread: Some(thread),
            shared,
        })
    }

    pub fn sink(&self) -> Option<EventSink> {
        self.sink.clone()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Stops taking events, writes (or spills) what is queued, and waits.
    pub fn shutdown(mut self) -> StatsSnapshot {
        self.sink = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.flush_journal();
        self.shared.stats.snapshot()
    }
}

#[derive(Hash, PartialEq, Eq)]
struct FoldKey {
    client_ip: String,
    host: Vec<u8>,
    user: Option<String>,
    action: String,
}

struct Fold {
    first_us: i64,
    repeats: u32,
    last: Option<AccessEvent>,
}

struct Worker {
    config: WriterConfig,
    connect: Connect,
    db: Option<Box<dyn Backend>>,
    last_attempt: Option<Instant>,
    shared: Arc<Shared>,
    folds: HashMap<FoldKey, Fold>,
    last_retention: Option<Instant>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<AccessEvent>) {
        let mut batch: Vec<AccessEvent> = Vec::with_capacity(self.config.batch_size);
        self.maintain();
        loop {
            let mut disconnected = false;
            self.shared.mark_progress();
            match rx.recv_timeout(self.config.flush_interval) {
                Ok(e) => {
                    self.take(e, &mut batch);
                    let deadline = Instant::now() + self.config.flush_interval;
                    while batch.len() < self.config.batch_size {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match rx.recv_timeout(left) {
                            Ok(e) => self.take(e, &mut batch),
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => {
                                disconnected = true;
                                break;
                            }
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            self.expire_folds(&mut batch, disconnected);
            if !batch.is_empty() {
                self.write(&batch);
                batch.clear();
            }
            self.shared.flush_journal();
            if disconnected {
                self.maintain();
                return;
            }
            self.maintain();
        }
    }

    /// Takes one event into the batch, or folds it into an earlier one.
    fn take(&mut self, e: AccessEvent, batch: &mut Vec<AccessEvent>) {
        let window = self.config.fold_window;
        if window.is_zero() || e.protocol != Protocol::Dns || e.is_blocked() {
            batch.push(e);
            return;
        }
        let key = FoldKey {
            client_ip: e.client_ip.clone(),
            host: e.host.clone(),
            user: e.user.clone(),
            action: e.action.clone(),
        };
        match self.folds.get_mut(&key) {
            Some(f) if e.time_us - f.first_us < window.as_micros() as i64 => {
                f.repeats += 1;
                f.last = Some(e);
                self.shared.stats.folded.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.folds.insert(
                    key,
                    Fold {
                        first_us: e.time_us,
                        repeats: 0,
                        last: None,
                    },
                );
                batch.push(e);
            }
        }
    }

    /// Closed windows become one event carrying the count of repeats.
    fn expire_folds(&mut self, batch: &mut Vec<AccessEvent>, all: bool) {
        if self.folds.is_empty() {
            return;
        }
        let now = jiff::Timestamp::now().as_microsecond();
        let window = self.config.fold_window.as_micros() as i64;
        self.folds.retain(|_, f| {
            let open = !all && now - f.first_us < window;
            if !open {
                if let Some(mut last) = f.last.take() {
                    last.count = f.repeats;
                    batch.push(last);
                }
            }
            open
        });
    }

    fn connected(&mut self) -> Option<&mut Box<dyn Backend>> {
        if self.db.is_none() {
            let due = self
                .last_attempt
                .is_none_or(|t| t.elapsed() >= self.config.reconnect_every);
            if due {
                self.last_attempt = Some(Instant::now());
                match (self.connect)() {
                    Ok(db) => {
                        tracing::info!(backend = db.kind(), "event store connected");
                        self.db = Some(db);
                    }
                    Err(e) => {
                        self.shared
                            .stats
                            .database_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("event store unavailable, spilling to the journal: {e}");
                    }
                }
            }
        }
        self.db.as_mut()
    }

    fn write(&mut self, batch: &[AccessEvent]) {
        if self.connected().is_none() {
            self.shared.spill(batch);
            return;
        }
        // Write-ahead: the batch is on its way to disk before the database
        // sees it, so dying mid-commit loses nothing older than the flush
        // interval. On a full disk the batch goes to the database anyway.
        let ahead = match self.shared.journal.lock() {
            Ok(mut j) => j.write_ahead(batch).ok(),
            Err(_) => None,
        };
        let result = match self.db.as_mut() {
            Some(db) => db.insert_events(batch),
            None => Err(StoreError::Invalid("no database".into())),
        };
        self.shared.mark_progress();
        if result.is_ok() {
            if let Some(file) = &ahead {
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::warn!("cannot remove written-ahead batch {}: {e}", file.display());
                }
            }
        }
        match result {
            Ok(()) => {
                self.shared
                    .stats
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) if ahead.is_some() => {
                // The written-ahead file is the spill; it is replayed later.
                self.shared
                    .stats
                    .database_errors
                    .fetch_add(1, Ordering::Relaxed);
                self.shared
                    .stats
                    .spilled
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::warn!("event batch failed, kept in the journal, reconnecting: {e}");
                self.db = None;
            }
            Err(e) => {
                self.shared
                    .stats
                    .database_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!("event batch failed, spilling to the journal and reconnecting: {e}");
                self.db = None;
                self.shared.spill(batch);
            }
        }
    }

    /// Replays the journal when the database is up, and applies retention.
    fn maintain(&mut self) {
        if self.connected().is_none() {
            return;
        }
        // Closed files: spills, earlier runs' files, and written-ahead
        // batches whose commit failed.
        let files = match self.shared.journal.lock() {
            Ok(mut j) => j.rotate(),
            Err(_) => Ok(Vec::new()),
        };
        let files = match files {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("cannot rotate the spill journal: {e}");
                Vec::new()
            }
        };
        for file in files {
            if !self.replay(&file) {
                break;
            }
        }
        self.apply_retention();
    }

    fn replay(&mut self, file: &std::path::Path) -> bool {
        let outcome = match journal::read_file(file) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("cannot read spill journal {}: {e}", file.display());
                return false;
            }
        };
        if outcome.torn_bytes > 0 {
            self.shared
                .stats
                .torn_bytes
                .fetch_add(outcome.torn_bytes, Ordering::Relaxed);
            tracing::warn!(file = %file.display(), bytes = outcome.torn_bytes, "spill journal ends in a torn record (the process was killed mid-write)");
        }
        for chunk in outcome.events.chunks(self.config.batch_size.max(1)) {
            let Some(db) = self.connected() else {
                return false;
            };
            if let Err(e) = db.insert_replayed(chunk) {
                self.shared
                    .stats
                    .database_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!("journal replay failed, will retry: {e}");
                self.db = None;
                return false;
            }
        }
        // Replay inserts skip events already present, so a crash between
        // here and the removal only repeats harmless work.
        self.shared
            .stats
            .replayed
            .fetch_add(outcome.events.len() as u64, Ordering::Relaxed);
        if let Err(e) = std::fs::remove_file(file) {
            tracing::error!("cannot remove replayed journal {}: {e}", file.display());
        }
        if !outcome.events.is_empty() {
            // Under sustained load this happens several times a second; the
            // counters carry the totals.
            tracing::debug!(
                events = outcome.events.len(),
                "replayed spilled events into the store"
            );
        }
        true
    }

    fn apply_retention(&mut self) {
        if self.config.retention_days == 0 {
            return;
        }
        if self
            .last_retention
            .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
        {
            return;
        }
        self.last_retention = Some(Instant::now());
        let cutoff = jiff::Timestamp::now().as_microsecond()
            - self.config.retention_days as i64 * 86_400_000_000;
        let Some(day) = crate::event::day_of(cutoff) else {
            return;
        };
        if let Some(db) = self.connected() {
            match db.drop_days_before(day) {
                Ok(dropped) if !dropped.is_empty() => {
                    tracing::info!(days = ?dropped, "retention dropped old event days")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("retention failed: {e}"),
            }
        }
    }
}
