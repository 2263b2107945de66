//! Where the monitor meets traffic. The [`Watcher`] sees every access
//! event as it is logged (search terms, full URLs, and blocked attempts
//! from DNS and the proxy alike) and, as the proxy's content observer, the
//! text of pages as they stream to the pupil. What it finds at or above the
//! alert severity goes to the alert worker as [`NewAlert`]s; it never
//! waits on the database.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tutela_monitor::lexicon::THEMES;
use tutela_monitor::{html_title, AttemptTracker, EscalationRule, Hit, HtmlBuffers, Scanner};
use tutela_proxy::{ContentObserver, PageContext, TextKind, TextSink};
use tutela_store::alerts::NewAlert;

use crate::worker::Job;
use tutela_store::AccessEvent;

use tutela_monitor::decode_url;

/// How the watcher judges what it sees.
#[derive(Debug, Clone)]
pub struct WatchRules {
    pub alert_severity: u8,
    pub escalation: EscalationRule,
    pub escalation_severity: BTreeMap<String, u8>,
    pub category_themes: BTreeMap<String, String>,
    pub page_text_limit: usize,
}

struct Inner {
    scanner: ArcSwap<Scanner>,
    rules: WatchRules,
    attempts: Mutex<Attempts>,
    found: Sender<Job>,
}

#[derive(Default)]
struct Attempts {
    tracker: AttemptTracker,
    /// The last attempt's host per pupil and theme: a page that loads a
    /// blocked site's pieces one after another is one attempt, not ten.
    last: HashMap<(String, String), (Vec<u8>, i64)>,
}

/// The most of a search, title or URL kept with an alert.
const EXCERPT_CHARS: usize = 300;

/// Attempts on the same host closer together than this are one attempt.
const SAME_ATTEMPT_US: i64 = 60_000_000;

/// Cheap to clone; every clone feeds the same worker.
#[derive(Clone)]
pub struct Watcher {
    inner: Arc<Inner>,
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

impl Watcher {
    pub fn new(scanner: Scanner, rules: WatchRules, found: Sender<Job>) -> Watcher {
        Watcher {
            inner: Arc::new(Inner {
                scanner: ArcSwap::from_pointee(scanner),
                attempts: Mutex::new(Attempts {
                    tracker: AttemptTracker::new(rules.escalation),
                    last: HashMap::new(),
                }),
                rules,
                found,
            }),
        }
    }

    /// Puts new lexicons in force for everything scanned from now on.
    pub fn set_scanner(&self, scanner: Scanner) {
        self.inner.scanner.store(Arc::new(scanner));
    }

    /// For [`tutela_store::EventSink::with_tap`].
    pub fn tap(&self) -> tutela_store::EventTap {
        let watcher = self.clone();
        Arc::new(move |event: &AccessEvent| watcher.event(event))
    }

    fn send(&self, alert: NewAlert) {
        if self.inner.found.send(Job::Alert(alert)).is_err() {
            tracing::error!("the alert worker has stopped; an alert was lost");
        }
    }

    /// Alerts for the hits at or above the alert severity. A short text (a
    /// search, a title, a URL) is shown whole, as typed; in a page, the
    /// normalised text around the hit.
    fn report(&self, hits: &[Hit], base: &NewAlert, whole: Option<&str>) {
        for hit in hits
            .iter()
            .filter(|h| h.severity >= self.inner.rules.alert_severity)
        {
            self.send(NewAlert {
                theme: hit.theme.clone(),
                severity: hit.severity,
                rule: hit.rule.clone(),
                excerpt: match whole {
                    Some(text) => text.chars().take(EXCERPT_CHARS).collect(),
                    None => hit.context.clone(),
                },
                ..base.clone()
            });
        }
    }

    /// One logged event: its search terms and URL are scanned, and a blocked
    /// one counts as an attempt on the themes it touches. Runs for every
    /// request, so nothing is allocated for an alert unless one may be due.
    pub fn event(&self, event: &AccessEvent) {
        let blocked = event.action == "block";
        let url = event.url.as_deref().map(text_of);
        // The search terms are in the URL too: scanned once, as a search.
        let (text, source): (Option<Cow<'_, str>>, &str) = match (&event.search, &url) {
            (Some(search), _) => (Some(Cow::Borrowed(search)), "search"),
            (None, Some(u)) => (Some(Cow::Owned(decode_url(u))), "url"),
            (None, None) => (None, ""),
        };
        if text.is_none() && !blocked {
            return;
        }
        let scanner = self.inner.scanner.load();
        let hits = text
            .as_deref()
            .map(|t| with_scratch(|s| scanner.scan_with(t, &mut s.normalised)))
            .unwrap_or_default();
        if hits.is_empty() && !blocked {
            return;
        }
        let subject = event
            .user
            .clone()
            .or_else(|| event.device.clone())
            .unwrap_or_else(|| event.client_ip.clone());
        let base = unscored(
            event.time_us,
            subject,
            event.group.clone(),
            url.map(Cow::into_owned),
            event.reference,
            source,
        );
        self.report(&hits, &base, text.as_deref());
        if !blocked {
            return;
        }
        let mut touched: Vec<String> = hits.into_iter().map(|h| h.theme).collect();
        let host = String::from_utf8_lossy(&event.host);
        touched.extend(
            with_scratch(|s| scanner.scan_with(&host, &mut s.normalised))
                .into_iter()
                .map(|h| h.theme),
        );
        let rules = &self.inner.rules;
        for category in &event.categories {
            if let Some(theme) = rules.category_themes.get(category) {
                touched.push(theme.clone());
            } else if THEMES.contains(&category.as_str()) {
                touched.push(category.clone());
            }
        }
        touched.sort();
        touched.dedup();
        for theme in touched {
            let Some(&severity) = rules.escalation_severity.get(&theme) else {
                continue;
            };
            if let Some(alert) = self.attempt(&base, &theme, severity, &event.host) {
                self.send(alert);
            }
        }
    }

    fn attempt(&self, base: &NewAlert, theme: &str, severity: u8, host: &[u8]) -> Option<NewAlert> {
        let mut attempts = match self.inner.attempts.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = (base.subject.clone(), theme.to_string());
        if let Some((last_host, at)) = attempts.last.get(&key) {
            if last_host == host && base.time_us - at < SAME_ATTEMPT_US {
                return None;
            }
        }
        attempts.last.insert(key, (host.to_vec(), base.time_us));
        if attempts.last.len() > 100_000 {
            let cutoff = base.time_us - self.inner.rules.escalation.window_us;
            attempts.last.retain(|_, (_, t)| *t >= cutoff);
        }
        let escalation = attempts
            .tracker
            .blocked(&base.subject, theme, base.time_us)?;
        let minutes = (escalation.last_us - escalation.first_us) / 60_000_000;
        Some(NewAlert {
            theme: theme.to_string(),
            severity,
            rule: format!(
                "{} blocked attempts within {} min",
                escalation.attempts,
                minutes.max(1)
            ),
            source: "attempts".into(),
            excerpt: String::from_utf8_lossy(host).into_owned(),
            ..base.clone()
        })
    }
}

impl ContentObserver for Watcher {
    /// Requests are seen through the event tap, which also sees DNS.
    fn request(&self, _page: &PageContext) {}

    fn open(&self, page: &PageContext, kind: TextKind) -> Option<Box<dyn TextSink>> {
        if page.blocked {
            return None;
        }
        Some(Box::new(PageText {
            watcher: self.clone(),
            page: page.clone(),
            kind,
            text: Vec::with_capacity(self.inner.rules.page_text_limit.min(PAGE_TEXT_START)),
        }))
    }
}

/// A page's text, kept up to the limit and scanned when it ends.
struct PageText {
    watcher: Watcher,
    page: PageContext,
    kind: TextKind,
    text: Vec<u8>,
}

impl TextSink for PageText {
    fn text(&mut self, chunk: &[u8]) {
        let room = self
            .watcher
            .inner
            .rules
            .page_text_limit
            .saturating_sub(self.text.len());
        self.text.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn end(self: Box<Self>, _complete: bool) {
        let raw = text_of(&self.text);
        let scanner = self.watcher.inner.scanner.load();
        let (title, body_hits, title_hits) = with_scratch(|s| {
            let (title, body_hits) = match self.kind {
                TextKind::Html => (html_title(&raw), scanner.scan_html_with(&raw, &mut s.html)),
                TextKind::Plain => (None, scanner.scan_with(&raw, &mut s.normalised)),
            };
            let title_hits = title
                .as_deref()
                .map(|t| scanner.scan_with(t, &mut s.normalised))
                .unwrap_or_default();
            (title, body_hits, title_hits)
        });
        if title_hits.is_empty() && body_hits.is_empty() {
            return;
        }
        let page = &self.page;
        let base = unscored(
            now_us(),
            page.user
                .clone()
                .unwrap_or_else(|| page.client_ip.to_string()),
            Some(page.group.clone()),
            Some(page.url.clone()),
            page.reference,
            "title",
        );
        self.watcher.report(&title_hits, &base, title.as_deref());
        let base = NewAlert {
            source: "page".into(),
            ..base
        };
        self.watcher.report(&body_hits, &base, None);
    }
}

/// Bytes as text. Nearly always valid UTF-8, which the standard library
/// checks several times faster than the lossy decoder walks it.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Room a page's text starts with: most pages' text fits, so it grows at
/// most a few times.
const PAGE_TEXT_START: usize = 16 << 10;

/// Buffers for scanning, one set per proxy thread, so the scans of every
/// request and page reuse them rather than allocating their own.
#[derive(Default)]
struct Scratch {
    html: HtmlBuffers,
    normalised: String,
}

fn with_scratch<T>(scan: impl FnOnce(&mut Scratch) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => scan(&mut scratch),
        // Only if a scan were to start inside another on this thread.
        Err(_) => scan(&mut Scratch::default()),
    })
}

/// What an alert from this request will say before a hit fills in theme,
/// severity, rule and excerpt.
fn unscored(
    time_us: i64,
    subject: String,
    group: Option<String>,
    url: Option<String>,
    reference: tutela_store::EventRef,
    source: &str,
) -> NewAlert {
    NewAlert {
        time_us,
        subject,
        group,
        theme: String::new(),
        severity: 0,
        rule: String::new(),
        source: source.into(),
        excerpt: String::new(),
        url,
        event_ref: Some(reference.to_string()),
    }
}
