//! The alert worker: one thread that owns a database connection. It takes
//! what the [`crate::Watcher`] found, drops what a DSL's exclusion covers,
//! folds the rest into alerts, and sends notifications on their own
//! threads so a slow mail server never holds up the next alert. Alerts
//! wait in memory while the database is down and are written when it
//! returns. Once a minute it refreshes exclusions and sends the weekly
//! digest when it is due.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tutela_monitor::{normalise, scanner_with_edits};
use tutela_store::alerts::{self, Alert, AlertFilter, Exclusion, NewAlert, Raised};
use tutela_store::{Backend, StoreError};

use crate::deliver::Delivery;
use crate::hours::{SchoolHours, Weekly};
use crate::notice::{Digest, Notice};
use crate::settings::Contact;
use crate::watch::Watcher;

/// Connects to the store (and migrates it).
pub type Connect = Arc<dyn Fn() -> Result<Box<dyn Backend>, StoreError> + Send + Sync>;

/// What the worker is asked to do.
#[derive(Debug)]
pub enum Job {
    Alert(NewAlert),
    /// A notification about this alert reached someone.
    Delivered {
        alert_id: i64,
        at_us: i64,
    },
    /// Lexicons or exclusions were changed in the console.
    Reload,
    Stop,
}

pub struct WorkerOptions {
    pub connect: Connect,
    pub dedup_window_us: i64,
    pub timezone: TimeZone,
    pub school_hours: SchoolHours,
    pub digest: Weekly,
    /// The console as staff reach it, without a trailing slash.
    pub console_url: String,
    pub contacts: Vec<Contact>,
    pub delivery: Arc<Delivery>,
    /// How often exclusions are refreshed and the digest considered.
    pub tick: Duration,
}

/// The running worker.
pub struct AlertWorker {
    tx: Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Alerts kept while the database is down; past this the oldest go (and
/// are logged), so memory stays bounded through a long outage.
const PENDING_MAX: usize = 10_000;

impl AlertWorker {
    /// Starts the worker; `watcher` gets the lexicons in force.
    pub fn start(
        options: WorkerOptions,
        watcher_for: impl FnOnce(Sender<Job>) -> Watcher,
    ) -> std::io::Result<(AlertWorker, Watcher)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = watcher_for(tx.clone());
        let state = State {
            options,
            db: None,
            pending: VecDeque::new(),
            exclusions: Vec::new(),
            watcher: watcher.clone(),
            tx: tx.clone(),
            lexicons_loaded: false,
        };
        let thread = std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || state.run(rx))?;
        Ok((
            AlertWorker {
                tx,
                thread: Some(thread),
            },
            watcher,
        ))
    }

    /// Asks the worker to read lexicons and exclusions again.
    pub fn reloader(&self) -> Arc<dyn Fn() + Send + Sync> {
        let tx = self.tx.clone();
        Arc::new(move || {
            let _ = tx.send(Job::Reload);
        })
    }

    /// Writes what is pending (if it can) and stops.
    pub fn shutdown(mut self) {
        let _ = self.tx.send(Job::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    options: WorkerOptions,
    db: Option<Box<dyn Backend>>,
    pending: VecDeque<NewAlert>,
    exclusions: Vec<Exclusion>,
    watcher: Watcher,
    tx: Sender<Job>,
    lexicons_loaded: bool,
}

fn now_us() -> i64 {
    Timestamp::now().as_microsecond()
}

impl State {
    fn run(mut self, rx: Receiver<Job>) {
        self.refresh();
        loop {
            match rx.recv_timeout(self.options.tick) {
                Ok(Job::Alert(alert)) => {
                    self.pending.push_back(alert);
                    if self.pending.len() > PENDING_MAX {
                        self.pending.pop_front();
                        tracing::error!("the database has been down too long: the oldest waiting alert was dropped");
                    }
                    self.write_pending();
                }
                Ok(Job::Delivered { alert_id, at_us }) => {
                    if let Some(db) = self.db() {
                        if let Err(e) = alerts::mark_notified(db, alert_id, at_us) {
                            tracing::error!(alert_id, "cannot record a notification: {e}");
                            self.db = None;
                        }
                    }
                }
                Ok(Job::Reload) => {
                    self.lexicons_loaded = false;
                    self.refresh();
                }
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.write_pending();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.refresh();
                    self.write_pending();
                    self.digest();
                }
            }
        }
    }

    /// The connection, made again if it was lost.
    fn db(&mut self) -> Option<&mut (dyn Backend + 'static)> {
        if self.db.is_none() {
            match (self.options.connect)() {
                Ok(db) => self.db = Some(db),
                Err(e) => {
                    tracing::warn!("alerts: the database is unreachable: {e}");
                    return None;
                }
            }
        }
        self.db.as_deref_mut()
    }

    /// Exclusions, and (when asked or not yet done) the lexicons.
    fn refresh(&mut self) {
        let now = now_us();
        let reload_lexicons = !self.lexicons_loaded;
        let Some(db) = self.db() else { return };
        let exclusions = alerts::exclusions(db, Some(now));
        let edited = if reload_lexicons {
            Some(alerts::edited_lexicons(db))
        } else {
            None
        };
        match exclusions {
            Ok(e) => self.exclusions = e,
            Err(e) => {
                tracing::error!("alerts: cannot read exclusions: {e}");
                self.db = None;
                return;
            }
        }
        match edited {
            None => {}
            Some(Ok(versions)) => {
                let edits: Vec<(String, String)> =
                    versions.into_iter().map(|v| (v.file, v.text)).collect();
                match scanner_with_edits(&edits)
                    .map_err(|e| format!("the lexicons do not compile: {e}"))
                {
                    Ok(scanner) => {
                        self.watcher.set_scanner(scanner);
                        self.lexicons_loaded = true;
                        if !edits.is_empty() {
                            tracing::info!(
                                edited = edits.len(),
                                "lexicons in force, with edits from the console"
                            );
                        }
                    }
                    Err(e) => {
                        // Only a valid file is ever saved; this is a
                        // store edited by hand. Keep the lexicons in force.
                        tracing::error!("alerts: {e}; the lexicons in force stay");
                        self.lexicons_loaded = true;
                    }
                }
            }
            Some(Err(e)) => {
                tracing::error!("alerts: cannot read edited lexicons: {e}");
                self.db = None;
            }
        }
    }

    fn excluded(&self, alert: &NewAlert) -> Option<i64> {
        self.exclusions
            .iter()
            .find(|x| {
                let e = &x.exclusion;
                x.in_force(alert.time_us)
                    && e.theme.as_ref().is_none_or(|t| *t == alert.theme)
                    && e.group
                        .as_ref()
                        .is_none_or(|g| Some(g) == alert.group.as_ref())
                    && mentions(&alert.rule, &e.term) | mentions(&alert.excerpt, &e.term)
            })
            .map(|x| x.id)
    }

    fn write_pending(&mut self) {
        while let Some(alert) = self.pending.pop_front() {
            if let Some(id) = self.excluded(&alert) {
                tracing::debug!(exclusion = id, theme = %alert.theme, "a hit was excluded");
                continue;
            }
            let window = self.options.dedup_window_us;
            let Some(db) = self.db() else {
                self.pending.push_front(alert);
                return;
            };
            let stored = alerts::raise(db, &alert, window)
                .and_then(|raised| alerts::get(db, raised.id()).map(|a| (raised, a)));
            match stored {
                Ok((raised, Some(stored))) => self.notify(raised, &stored),
                Ok((_, None)) => {}
                Err(e) => {
                    tracing::error!("alerts: cannot store an alert, will retry: {e}");
                    self.db = None;
                    self.pending.push_front(alert);
                    return;
                }
            }
        }
    }

    fn notice(&self, alert: &Alert) -> Notice {
        notice_for(alert, &self.options.timezone, &self.options.console_url)
    }

    /// Tells the contacts on duty now, if the alert is new to them and
    /// severe enough.
    fn notify(&self, raised: Raised, alert: &Alert) {
        let fresh = match raised {
            Raised::New(_) => true,
            Raised::Folded { rose, .. } => rose && alert.notified_us.is_none(),
        };
        if !fresh {
            return;
        }
        let now = Timestamp::now().to_zoned(self.options.timezone.clone());
        let in_hours = self.options.school_hours.contains(&now);
        let contacts: Vec<Contact> = self
            .options
            .contacts
            .iter()
            .filter(|c| alert.severity >= c.immediate)
            .filter(|c| match c.when.as_str() {
                "in-hours" => in_hours,
                "out-of-hours" => !in_hours,
                _ => true,
            })
            .cloned()
            .collect();
        if contacts.is_empty() {
            if alert.severity >= 4 {
                tracing::warn!(
                    alert = alert.id,
                    "no contact is set to be told of this alert now; add [[monitor.contacts]]"
                );
            }
            return;
        }
        let notice = self.notice(alert);
        let delivery = self.options.delivery.clone();
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("alert-send".into())
            .spawn(move || {
                let mut reached = false;
                for c in &contacts {
                    if let Some(to) = &c.email {
                        match delivery.email(to, &notice.subject(), &notice.text()) {
                            Ok(()) => reached = true,
                            Err(e) => tracing::error!(alert = notice.alert_id, "{e}"),
                        }
                    }
                    if let Some(url) = &c.webhook {
                        match delivery.webhook(url, &notice.webhook_body(&c.webhook_format)) {
                            Ok(()) => reached = true,
                            Err(e) => tracing::error!(alert = notice.alert_id, "{e}"),
                        }
                    }
                }
                if reached {
                    tracing::info!(
                        alert = notice.alert_id,
                        severity = notice.severity,
                        "alert sent"
                    );
                    let _ = tx.send(Job::Delivered {
                        alert_id: notice.alert_id,
                        at_us: now_us(),
                    });
                }
            });
        if let Err(e) = spawned {
            tracing::error!(alert = alert.id, "cannot start sending: {e}");
        }
    }

    /// The weekly digest, once, when due. A digest more than a day late
    /// (the service was off) is skipped rather than sent out of the blue.
    fn digest(&mut self) {
        let recipients: Vec<String> = self
            .options
            .contacts
            .iter()
            .filter(|c| c.digest)
            .filter_map(|c| c.email.clone())
            .collect();
        if recipients.is_empty() || !self.options.delivery.can_email() {
            return;
        }
        let now = Timestamp::now();
        let Some((week, due)) = self
            .options
            .digest
            .latest(&now.to_zoned(self.options.timezone.clone()))
        else {
            return;
        };
        let age = now.as_microsecond() - due.as_microsecond();
        if !(0..86_400_000_000).contains(&age) {
            return;
        }
        let Some(digest) = self.build_digest(&week, due.as_microsecond()) else {
            return;
        };
        let delivery = self.options.delivery.clone();
        let spawned = std::thread::Builder::new()
            .name("alert-digest".into())
            .spawn(move || {
                for to in &recipients {
                    if let Err(e) = delivery.email(to, &digest.subject(), &digest.text()) {
                        tracing::error!("weekly digest: {e}");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start sending the digest: {e}");
        }
    }

    fn build_digest(&mut self, week: &str, due_us: i64) -> Option<Digest> {
        let console = self.options.console_url.clone();
        let (tz, url) = (self.options.timezone.clone(), console.clone());
        let db = self.db()?;
        let result = (|| {
            if !alerts::claim_digest(db, week, now_us())? {
                return Ok(None);
            }
            let raised = alerts::list(
                db,
                &AlertFilter {
                    since_us: Some(due_us - 7 * 86_400_000_000),
                    until_us: Some(due_us),
                    limit: 5_000,
                    ..AlertFilter::default()
                },
            )?;
            let open = alerts::list(
                db,
                &AlertFilter {
                    open: true,
                    limit: 5_000,
                    ..AlertFilter::default()
                },
            )?
            .len();
            Ok::<_, StoreError>(Some(Digest {
                week: week.to_string(),
                alerts: raised.iter().map(|a| notice_for(a, &tz, &url)).collect(),
                open,
                console,
            }))
        })();
        match result {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("weekly digest: {e}");
                self.db = None;
                None
            }
        }
    }
}

/// What a notification says about `alert`.
pub fn notice_for(alert: &Alert, timezone: &TimeZone, console_url: &str) -> Notice {
    let when = Timestamp::from_microsecond(alert.created_us)
        .map(|t| {
            t.to_zoned(timezone.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    Notice {
        alert_id: alert.id,
        pupil: alert.subject.clone(),
        group: alert.group.clone(),
        theme: alert.theme.clone(),
        severity: alert.severity,
        when,
        hits: alert.hits,
        source: alert.source.clone(),
        link: format!("{}/alerts/{}", console_url.trim_end_matches('/'), alert.id),
    }
}

/// Whether `text` has `term` in it as whole words, both normalised.
fn mentions(text: &str, term: &str) -> bool {
    let term = normalise(term);
    term.trim().len() >= 2 && normalise(text).contains(&term)
}
