//! School hours (`Mon-Fri 08:00-17:00`) and the digest's weekly time
//! (`Mon 07:00`), in the school's time zone.

use jiff::civil::{Time, Weekday};
use jiff::Zoned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {message}")]
pub struct HoursError {
    text: String,
    message: String,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn day(name: &str) -> Option<Weekday> {
    let name = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(d, _)| name.starts_with(d))
        .map(|(_, w)| *w)
}

fn time(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// Days (`Mon-Fri`, `Mon,Wed,Fri`), a space, and a time span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolHours {
    days: Vec<Weekday>,
    open: Time,
    close: Time,
}

fn days(text: &str) -> Option<Vec<Weekday>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, last) = (day(a)?, day(b)?);
                for _ in 0..7 {
                    out.push(d);
                    if d == last {
                        break;
                    }
                    d = d.wrapping_add(1);
                }
            }
            None => out.push(day(part)?),
        }
    }
    Some(out)
}

impl SchoolHours {
    pub fn parse(text: &str) -> Result<SchoolHours, HoursError> {
        let bad = |message: &str| HoursError {
            text: text.into(),
            message: message.into(),
        };
        let (d, span) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("write days and hours, as Mon-Fri 08:00-17:00"))?;
        let days = days(d).ok_or_else(|| bad("the days are not like Mon-Fri"))?;
        let (open, close) = span
            .split_once('-')
            .and_then(|(a, b)| Some((time(a)?, time(b)?)))
            .ok_or_else(|| bad("the hours are not like 08:00-17:00"))?;
        if close <= open {
            return Err(bad("the school closes before it opens"));
        }
        Ok(SchoolHours { days, open, close })
    }

    /// Whether `now` is in school hours.
    pub fn contains(&self, now: &Zoned) -> bool {
        let t = now.time();
        self.days.contains(&now.weekday()) && self.open <= t && t < self.close
    }
}

/// A day of the week and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekly {
    day: Weekday,
    at: Time,
}

impl Weekly {
    pub fn parse(text: &str) -> Result<Weekly, HoursError> {
        let bad = |message: &str| HoursError {
            text: text.into(),
            message: message.into(),
        };
        let (d, t) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("write a day and a time, as Mon 07:00"))?;
        Ok(Weekly {
            day: day(d).ok_or_else(|| bad("the day is not like Mon"))?,
            at: time(t).ok_or_else(|| bad("the time is not like 07:00"))?,
        })
    }

    /// The week the latest due time at or before `now` belongs to, named
    /// by that day (`2026-11-30`), or `None` before the first one.
    pub fn due(&self, now: &Zoned) -> Option<String> {
        self.latest(now).map(|(week, _)| week)
    }

    /// The latest due time at or before `now`, with its week's name.
    pub fn latest(&self, now: &Zoned) -> Option<(String, jiff::Timestamp)> {
        let back = (now.weekday().to_monday_zero_offset() - self.day.to_monday_zero_offset())
            .rem_euclid(7);
        let mut day = now.date().checked_sub(jiff::Span::new().days(back)).ok()?;
        if back == 0 && now.time() < self.at {
            day = day.checked_sub(jiff::Span::new().days(7)).ok()?;
        }
        let when = day
            .to_datetime(self.at)
            .to_zoned(now.time_zone().clone())
            .ok()?;
        Some((day.to_string(), when.timestamp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Zoned {
        text.parse().expect("a zoned time")
    }

    #[test]
    fn school_hours_by_day_and_time() {
        let h = SchoolHours::parse("Mon-Fri 08:00-17:00").unwrap();
        assert!(h.contains(&at("2026-12-02T10:00[Europe/London]")));
        assert!(!h.contains(&at("2026-12-02T17:00[Europe/London]")));
        assert!(!h.contains(&at("2026-12-02T07:59[Europe/London]")));
        assert!(
            !h.contains(&at("2026-12-05T10:00[Europe/London]")),
            "Saturday"
        );
        let odd = SchoolHours::parse("Fri-Mon 09:00-10:00").unwrap();
        assert!(
            odd.contains(&at("2026-12-06T09:30[Europe/London]")),
            "Sunday"
        );
        assert!(!odd.contains(&at("2026-12-02T09:30[Europe/London]")));
        for bad in [
            "",
            "Mon-Fri",
            "Mon-Fri 17:00-08:00",
            "Xyz 08:00-09:00",
            "Mon 8-9",
        ] {
            assert!(SchoolHours::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_digest_is_due_once_a_week() {
        let w = Weekly::parse("Mon 07:00").unwrap();
        // Wednesday 2 December 2026: this week's Monday was 30 November.
        assert_eq!(
            w.due(&at("2026-12-02T10:00[Europe/London]")).as_deref(),
            Some("2026-11-30")
        );
        // Monday before seven: still last week's.
        assert_eq!(
            w.due(&at("2026-12-07T06:59[Europe/London]")).as_deref(),
            Some("2026-11-30")
        );
        assert_eq!(
            w.due(&at("2026-12-07T07:00[Europe/London]")).as_deref(),
            Some("2026-12-07")
        );
        assert!(Weekly::parse("Someday 07:00").is_err());
    }
}
