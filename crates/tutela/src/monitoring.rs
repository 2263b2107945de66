//! Starting the safeguarding monitor: the watcher taps the event log (so
//! DNS and proxy traffic alike are seen) and reads page text as the
//! proxy's content observer; the alert worker stores and sends.

use std::sync::Arc;

use anyhow::{Context, Result};
use tutela_alerts::deliver::Delivery;
use tutela_alerts::hours::{SchoolHours, Weekly};
use tutela_alerts::{AlertWorker, WatchRules, Watcher, WorkerOptions};
use tutela_monitor::{EscalationRule, Scanner};
use tutela_store::EventSink;

use crate::config::{parse_duration, Config};

/// The running monitor.
pub struct Monitoring {
    pub watcher: Watcher,
    worker: AlertWorker,
}

impl Monitoring {
    /// Starts the monitor when `[monitor] enabled` and the event log is
    /// on (alerts live in the same store).
    pub fn start(config: &Config, log: Option<&EventSink>) -> Result<Option<Monitoring>> {
        let m = &config.monitor;
        if !m.enabled {
            return Ok(None);
        }
        if log.is_none() {
            tracing::warn!("the monitor needs the event store; it is off");
            return Ok(None);
        }
        let duration = |key: &str, value: &str| {
            parse_duration(value).with_context(|| format!("monitor.{key} = {value:?}"))
        };
        let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let rules = WatchRules {
            alert_severity: m.alert_severity,
            escalation: EscalationRule {
                attempts: m.escalation_attempts.max(1),
                window_us: micros(duration("escalation_window", &m.escalation_window)?),
            },
            escalation_severity: m.escalation_severity.clone(),
            category_themes: m.category_themes.clone(),
            page_text_limit: m.page_text_limit,
        };
        let options = WorkerOptions {
            connect: {
                let store = config.store_config();
                Arc::new(move || {
                    let mut db = store.open()?;
                    db.migrate()?;
                    Ok(db)
                })
            },
            dedup_window_us: micros(duration("dedup_window", &m.dedup_window)?),
            timezone: jiff::tz::TimeZone::get(&config.policy.timezone)
                .with_context(|| format!("policy.timezone = {:?}", config.policy.timezone))?,
            school_hours: SchoolHours::parse(&m.school_hours).context("monitor.school_hours")?,
            digest: Weekly::parse(&m.digest).context("monitor.digest")?,
            console_url: m
                .console_url
                .clone()
                .unwrap_or_else(|| config.proxy.console_url.clone()),
            contacts: m.contacts.clone(),
            delivery: Arc::new(Delivery::new(m.email.as_ref())?),
            tick: std::time::Duration::from_secs(60),
        };
        for c in &m.contacts {
            if c.email.is_some() && m.email.is_none() {
                tracing::warn!(contact = %c.name, "monitor.contacts has an email but [monitor.email] sets no server");
            }
        }
        // The built-in lexicons at once; the worker lays the console's
        // edits over them as soon as it reaches the store.
        let scanner =
            Scanner::new(&tutela_monitor::built_in_lexicons().context("the built-in lexicons")?)
                .context("cannot compile the built-in lexicons")?;
        let (worker, watcher) = AlertWorker::start(options, |tx| Watcher::new(scanner, rules, tx))
            .context("cannot start the alert worker")?;
        tracing::info!(contacts = m.contacts.len(), "safeguarding monitor on");
        Ok(Some(Monitoring { watcher, worker }))
    }

    /// The event sink, with the watcher shown every event.
    pub fn tap(&self, log: Option<EventSink>) -> Option<EventSink> {
        log.map(|s| s.with_tap(self.watcher.tap()))
    }

    pub fn reloader(&self) -> Arc<dyn Fn() + Send + Sync> {
        self.worker.reloader()
    }

    pub fn shutdown(self) {
        self.worker.shutdown();
    }
}
