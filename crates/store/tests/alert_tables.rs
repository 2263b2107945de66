//! Safeguarding alerts, their triage notes, exclusions, lexicon versions
//! and digests on both backends.

mod common;

use tutela_store::alerts::{
    self, AlertFilter, AlertState, NewAlert, NewExclusion, Raised, TriageError,
};

const HOUR: i64 = 3_600_000_000;

fn hit(subject: &str, theme: &str, severity: u8, time_us: i64) -> NewAlert {
    NewAlert {
        time_us,
        subject: subject.into(),
        group: Some("year-9".into()),
        theme: theme.into(),
        severity,
        rule: format!("rule {severity}"),
        source: "search".into(),
        excerpt: "<script>alert(1)</script> how to".into(),
        url: Some("http://example.com/?q=x'".into()),
        event_ref: Some("abc".into()),
    }
}

#[test]
fn hits_fold_per_pupil_theme_and_window() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let first = alerts::raise(db, &hit("amy", "suicide", 3, 10 * HOUR), HOUR).unwrap();
        let Raised::New(id) = first else {
            panic!("{}: the first hit is a new alert", store.name)
        };
        // Same pupil and theme within the hour: folded, and the worse
        // severity replaces what the alert shows.
        let again = alerts::raise(db, &hit("amy", "suicide", 5, 10 * HOUR + 60), HOUR).unwrap();
        assert_eq!(again, Raised::Folded { id, rose: true }, "{}", store.name);
        let lower = alerts::raise(db, &hit("amy", "suicide", 4, 10 * HOUR + 120), HOUR).unwrap();
        assert_eq!(lower, Raised::Folded { id, rose: false }, "{}", store.name);
        // Another theme or another pupil: new alerts.
        assert!(matches!(
            alerts::raise(db, &hit("amy", "self-harm", 3, 10 * HOUR), HOUR).unwrap(),
            Raised::New(_)
        ));
        assert!(matches!(
            alerts::raise(db, &hit("ben", "suicide", 3, 10 * HOUR), HOUR).unwrap(),
            Raised::New(_)
        ));
        let alert = alerts::get(db, id).unwrap().unwrap();
        assert_eq!(
            (alert.severity, alert.hits, alert.last_us, alert.state),
            (5, 3, 10 * HOUR + 120, AlertState::New),
            "{}",
            store.name
        );
        assert_eq!(alert.excerpt, "<script>alert(1)</script> how to");
        alerts::mark_notified(db, id, 11).unwrap();
        assert_eq!(alerts::get(db, id).unwrap().unwrap().notified_us, Some(11));

        let all = alerts::list(db, &AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 3, "{}", store.name);
        let worst = alerts::list(
            db,
            &AlertFilter {
                min_severity: Some(5),
                ..AlertFilter::default()
            },
        )
        .unwrap();
        assert_eq!(worst.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id]);
        let amy_suicide = alerts::list(
            db,
            &AlertFilter {
                subject: Some("amy".into()),
                theme: Some("suicide".into()),
                ..AlertFilter::default()
            },
        )
        .unwrap();
        assert_eq!(amy_suicide.len(), 1, "{}", store.name);

        // A closed alert takes no more hits, nor does one past the window.
        alerts::triage(
            db,
            id,
            AlertState::New,
            AlertState::FalsePositive,
            "dsl",
            "song lyrics",
            12,
        )
        .unwrap();
        assert!(matches!(
            alerts::raise(db, &hit("amy", "suicide", 3, 10 * HOUR + 180), HOUR).unwrap(),
            Raised::New(_)
        ));
        assert!(matches!(
            alerts::raise(db, &hit("amy", "suicide", 3, 12 * HOUR), HOUR).unwrap(),
            Raised::New(_)
        ));
    }
}

#[test]
fn triage_keeps_every_note_and_refuses_stale_or_silent_steps() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let id = alerts::raise(db, &hit("amy", "grooming", 5, HOUR), HOUR)
            .unwrap()
            .id();
        let silent = alerts::triage(db, id, AlertState::New, AlertState::InReview, "dsl", " ", 1);
        assert!(matches!(silent, Err(TriageError::NoNote)), "{}", store.name);
        let note = alerts::triage(
            db,
            id,
            AlertState::New,
            AlertState::InReview,
            "dsl",
            "Looking at it; spoke to form tutor. <b>",
            2,
        )
        .unwrap();
        assert_eq!(note.to_state, AlertState::InReview);
        // Someone who saw it as new is told it moved.
        let stale = alerts::triage(
            db,
            id,
            AlertState::New,
            AlertState::NoFurtherAction,
            "deputy",
            "nothing",
            3,
        );
        assert!(
            matches!(stale, Err(TriageError::Moved(_))),
            "{}",
            store.name
        );
        // A note without a change of state.
        alerts::triage(
            db,
            id,
            AlertState::InReview,
            AlertState::InReview,
            "deputy",
            "Parents called",
            4,
        )
        .unwrap();
        alerts::triage(
            db,
            id,
            AlertState::InReview,
            AlertState::Escalated,
            "dsl",
            "Referred to MASH",
            5,
        )
        .unwrap();
        let back = alerts::triage(
            db,
            id,
            AlertState::Escalated,
            AlertState::InReview,
            "dsl",
            "undo",
            6,
        );
        assert!(
            matches!(back, Err(TriageError::NotAllowed { .. })),
            "{}: escalated stays escalated",
            store.name
        );
        let missing = alerts::triage(
            db,
            id + 100,
            AlertState::New,
            AlertState::InReview,
            "dsl",
            "x",
            7,
        );
        assert!(matches!(missing, Err(TriageError::NotFound(_))));
        let notes = alerts::notes(db, id).unwrap();
        assert_eq!(
            notes
                .iter()
                .map(|n| (n.author.as_str(), n.to_state, n.note.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (
                    "dsl",
                    AlertState::InReview,
                    "Looking at it; spoke to form tutor. <b>"
                ),
                ("deputy", AlertState::InReview, "Parents called"),
                ("dsl", AlertState::Escalated, "Referred to MASH"),
            ],
            "{}",
            store.name
        );
        assert_eq!(
            alerts::get(db, id).unwrap().unwrap().state,
            AlertState::Escalated
        );
        // Notes are append-only, whoever asks.
        assert!(db
            .execute_raw("UPDATE alert_notes SET note = 'rewritten'")
            .is_err());
        assert!(db.execute_raw("DELETE FROM alert_notes").is_err());
        assert_eq!(alerts::notes(db, id).unwrap().len(), 3, "{}", store.name);
    }
}

#[test]
fn exclusions_lexicons_and_digests() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let egypt = NewExclusion {
            term: "isis".into(),
            theme: Some("radicalisation".into()),
            group: Some("year-7".into()),
            from_us: 100,
            until_us: 200,
            reason: "Egyptology project".into(),
        };
        let id = alerts::add_exclusion(db, &egypt, "dsl", 50).unwrap();
        let all = alerts::exclusions(db, None).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].exclusion, egypt);
        assert!(all[0].in_force(150) && !all[0].in_force(99) && !all[0].in_force(200));
        assert_eq!(alerts::exclusions(db, Some(150)).unwrap().len(), 1);
        assert_eq!(alerts::exclusions(db, Some(200)).unwrap().len(), 0);
        assert!(alerts::end_exclusion(db, id, "dsl", 160).unwrap());
        assert!(!alerts::end_exclusion(db, id, "dsl", 161).unwrap());
        assert_eq!(alerts::exclusions(db, Some(170)).unwrap().len(), 0);
        let ended = &alerts::exclusions(db, None).unwrap()[0];
        assert_eq!(
            (ended.ended_us, ended.ended_by.as_deref()),
            (Some(160), Some("dsl"))
        );

        alerts::save_lexicon(db, "en/suicide.toml", "v1", "dsl", 1).unwrap();
        alerts::save_lexicon(db, "en/suicide.toml", "v2", "deputy", 2).unwrap();
        alerts::save_lexicon(db, "fr/suicide.toml", "fr1", "dsl", 3).unwrap();
        let current = alerts::edited_lexicons(db).unwrap();
        assert_eq!(
            current
                .iter()
                .map(|v| (v.file.as_str(), v.text.as_str()))
                .collect::<Vec<_>>(),
            vec![("en/suicide.toml", "v2"), ("fr/suicide.toml", "fr1")],
            "{}",
            store.name
        );
        assert_eq!(
            alerts::lexicon_history(db, "en/suicide.toml")
                .unwrap()
                .len(),
            2
        );
        assert!(db.execute_raw("DELETE FROM lexicon_versions").is_err());

        assert!(alerts::claim_digest(db, "2026-11-30", 1).unwrap());
        assert!(!alerts::claim_digest(db, "2026-11-30", 2).unwrap());
        assert!(alerts::claim_digest(db, "2026-12-07", 3).unwrap());
    }
}
