//! Safeguarding alerts: the monitor's hits and repeated blocked attempts
//! become stored alerts, folded per pupil and theme, and reach the right
//! people: severity 4-5 at once by email (SMTP, lettre) and webhook
//! (generic JSON, Teams, Slack), routed by school hours; everything in the
//! weekly digest and the console. Notifications name the pupil, theme and
//! severity and link to the console; they never carry what was typed or
//! seen.
//!
//! [`Watcher`] sees traffic and must be quick (it runs on listener
//! threads); [`AlertWorker`] owns the database connection and the sending.

pub mod deliver;
pub mod hours;
pub mod notice;
pub mod settings;
pub mod watch;
pub mod worker;

pub use notice::{Digest, Notice};
pub use settings::{Contact, EmailSettings, MonitorSettings};
pub use watch::{WatchRules, Watcher};
pub use worker::{AlertWorker, WorkerOptions};
