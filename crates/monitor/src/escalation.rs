//! Repeated attempts to reach blocked content in a high-risk theme raise an
//! alert even when no single attempt would: three blocked self-harm
//! attempts in 30 minutes, say. An inquest found that a pupil's repeated
//! attempts raised nothing; this is the rule that would have.

use std::collections::{HashMap, VecDeque};

/// When attempts become an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationRule {
    /// Attempts within the window that raise an alert.
    pub attempts: usize,
    pub window_us: i64,
}

impl Default for EscalationRule {
    fn default() -> Self {
        EscalationRule {
            attempts: 3,
            window_us: 30 * 60 * 1_000_000,
        }
    }
}

/// An alert raised by attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub user: String,
    pub theme: String,
    pub attempts: usize,
    pub first_us: i64,
    pub last_us: i64,
}

/// Blocked attempts per user and theme.
#[derive(Debug, Default)]
pub struct AttemptTracker {
    rule: EscalationRule,
    attempts: HashMap<(String, String), VecDeque<i64>>,
}

impl AttemptTracker {
    pub fn new(rule: EscalationRule) -> AttemptTracker {
        AttemptTracker {
            rule,
            attempts: HashMap::new(),
        }
    }

    /// Records a blocked attempt; returns an escalation when this one
    /// makes enough in the window. The attempts that raised it are then
    /// forgotten, so one burst raises one alert.
    pub fn blocked(&mut self, user: &str, theme: &str, time_us: i64) -> Option<Escalation> {
        let rule = self.rule;
        let times = self
            .attempts
            .entry((user.to_string(), theme.to_string()))
            .or_default();
        times.push_back(time_us);
        while times.front().is_some_and(|t| time_us - *t > rule.window_us) {
            times.pop_front();
        }
        if times.len() < rule.attempts.max(1) {
            return None;
        }
        let first_us = times.front().copied().unwrap_or(time_us);
        let attempts = times.len();
        times.clear();
        Some(Escalation {
            user: user.to_string(),
            theme: theme.to_string(),
            attempts,
            first_us,
            last_us: time_us,
        })
    }

    /// Forgets users with nothing in the window (call now and then).
    pub fn prune(&mut self, now_us: i64) {
        let window = self.rule.window_us;
        self.attempts
            .retain(|_, t| t.back().is_some_and(|last| now_us - *last <= window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    #[test]
    fn three_blocked_attempts_in_thirty_minutes_raise_one_alert() {
        let mut t = AttemptTracker::new(EscalationRule::default());
        assert!(t.blocked("ana", "self-harm", 0).is_none());
        assert!(t.blocked("ana", "self-harm", 10 * MIN).is_none());
        // Another pupil's and another theme's attempts do not count.
        assert!(t.blocked("ben", "self-harm", 11 * MIN).is_none());
        assert!(t.blocked("ana", "drugs", 12 * MIN).is_none());
        let e = t.blocked("ana", "self-harm", 29 * MIN).expect("escalated");
        assert_eq!((e.attempts, e.first_us, e.last_us), (3, 0, 29 * MIN));
        // The burst is spent.
        assert!(t.blocked("ana", "self-harm", 30 * MIN).is_none());
    }

    #[test]
    fn attempts_outside_the_window_do_not_add_up() {
        let mut t = AttemptTracker::new(EscalationRule::default());
        assert!(t.blocked("ana", "suicide", 0).is_none());
        assert!(t.blocked("ana", "suicide", 20 * MIN).is_none());
        assert!(
            t.blocked("ana", "suicide", 45 * MIN).is_none(),
            "the first fell out"
        );
        assert!(t.blocked("ana", "suicide", 49 * MIN).is_some());
        t.prune(200 * MIN);
        assert!(t.attempts.is_empty());
    }
}
