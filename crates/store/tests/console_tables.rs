//! Users, console sessions and temporary-unblock requests on both backends.

mod common;

use tutela_store::people::{self, NewUser, Session};
use tutela_store::unblock::{self, NewUnblock, UnblockFilter, UnblockStatus};

#[test]
fn users_and_sessions_round_trip() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        assert_eq!(people::count_console_role(db, "administrator").unwrap(), 0);
        let hostile = "O'Brien <script>alert(1)</script> ; DROP TABLE users; --";
        let id = people::add_user(
            db,
            &NewUser {
                username: "admin".into(),
                display_name: Some(hostile.into()),
                kind: "staff".into(),
                console_role: Some("administrator".into()),
                password_hash: Some("$argon2id$v=19$x".into()),
                expires_us: Some(5),
                year_group: None,
            },
            1,
        )
        .unwrap();
        let again = people::add_user(
            db,
            &NewUser {
                username: "admin".into(),
                kind: "staff".into(),
                ..NewUser::default()
            },
            2,
        );
        assert!(
            again.is_err(),
            "{}: a taken username is refused",
            store.name
        );
        let user = people::user_named(db, "admin").unwrap().unwrap();
        assert_eq!(user.id, id);
        assert_eq!(user.display_name.as_deref(), Some(hostile));
        assert!(!user.has_second_factor());
        assert!(user.is_active(4) && !user.is_active(5), "{}", store.name);
        people::set_totp_secret(db, id, "JBSWY3DPEHPK3PXP").unwrap();
        people::set_disabled(db, id, true).unwrap();
        let user = people::user_by_id(db, id).unwrap().unwrap();
        assert!(user.has_second_factor() && user.disabled, "{}", store.name);
        assert_eq!(people::count_console_role(db, "administrator").unwrap(), 1);

        let session = Session {
            user_id: id,
            csrf_token: "csrf".into(),
            second_factor_done: false,
            created_us: 10,
            seen_us: 10,
        };
        people::add_session(db, "hash-a", &session).unwrap();
        people::add_session(
            db,
            "hash-b",
            &Session {
                created_us: 100,
                seen_us: 100,
                ..session.clone()
            },
        )
        .unwrap();
        assert_eq!(
            people::session(db, "hash-a").unwrap(),
            Some(session.clone())
        );
        people::complete_second_factor(db, "hash-a").unwrap();
        people::touch_session(db, "hash-a", 20).unwrap();
        let s = people::session(db, "hash-a").unwrap().unwrap();
        assert!(s.second_factor_done && s.seen_us == 20, "{}", store.name);
        assert_eq!(people::end_stale_sessions(db, 50, 0).unwrap(), 1);
        assert!(people::session(db, "hash-a").unwrap().is_none());
        assert!(people::session(db, "hash-b").unwrap().is_some());
        people::end_sessions_of(db, id).unwrap();
        assert!(people::session(db, "hash-b").unwrap().is_none());
    }
}

#[test]
fn unblock_requests_are_decided_once_and_revert_when_due() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let request = NewUnblock {
            staff_name: "Ms Jones".into(),
            requested_on: "2026-12-02".into(),
            url: "https://example.org/100%_<b>".into(),
            site: "example.org".into(),
            reason: "Year 9 history lesson".into(),
            revert_us: 1_000,
            audience: "Year 9".into(),
            group: Some("pupils".into()),
            event_ref: Some("T-ABC".into()),
        };
        let a = unblock::add(db, &request, "osl", 10).unwrap();
        let b = unblock::add(
            db,
            &NewUnblock {
                site: "other.test".into(),
                url: "http://other.test/".into(),
                revert_us: 5_000,
                ..request.clone()
            },
            "staff",
            20,
        )
        .unwrap();
        let stored = unblock::get(db, a).unwrap().unwrap();
        assert_eq!(stored.request, request, "{}", store.name);
        assert_eq!(stored.status, UnblockStatus::Pending);

        // Only the first decision counts.
        assert!(unblock::decide(
            db,
            a,
            UnblockStatus::Pending,
            UnblockStatus::Approved,
            "osl",
            "ok",
            30
        )
        .unwrap());
        assert!(!unblock::decide(
            db,
            a,
            UnblockStatus::Pending,
            UnblockStatus::Refused,
            "admin",
            "no",
            31
        )
        .unwrap());
        assert!(unblock::decide(
            db,
            b,
            UnblockStatus::Pending,
            UnblockStatus::Approved,
            "osl",
            "",
            32
        )
        .unwrap());
        assert_eq!(unblock::in_force(db, 500).unwrap().len(), 2);

        // A literal `%` and `_` in a search match only themselves.
        let found = unblock::list(
            db,
            &UnblockFilter {
                site: Some("100%_".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            found.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![a],
            "{}",
            store.name
        );
        let found = unblock::list(
            db,
            &UnblockFilter {
                site: Some("0%x".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(found.is_empty(), "{}", store.name);

        let reverted = unblock::revert_due(db, 1_000).unwrap();
        assert_eq!(reverted.iter().map(|u| u.id).collect::<Vec<_>>(), vec![a]);
        assert!(
            unblock::revert_due(db, 1_000).unwrap().is_empty(),
            "reverts once"
        );
        let in_force = unblock::in_force(db, 1_000).unwrap();
        assert_eq!(in_force.iter().map(|u| u.id).collect::<Vec<_>>(), vec![b]);
        let a = unblock::get(db, a).unwrap().unwrap();
        assert_eq!(
            (a.status, a.reverted_us),
            (UnblockStatus::Reverted, Some(1_000))
        );
        let listed = unblock::list(
            db,
            &UnblockFilter {
                status: Some(UnblockStatus::Approved),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(listed.len(), 1);
    }
}

#[test]
fn an_import_adds_every_user_or_none() {
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let user = |name: &str| NewUser {
            username: name.into(),
            kind: "pupil".into(),
            ..NewUser::default()
        };
        people::add_user(db, &user("existing"), 1).unwrap();
        // The third clashes, so none of the batch goes in.
        let batch = [user("p1"), user("p2"), user("existing"), user("p4")];
        assert!(people::add_users(db, &batch, 2).is_err(), "{}", store.name);
        assert_eq!(
            people::users(db).unwrap().len(),
            1,
            "{}: rolled back",
            store.name
        );
        assert_eq!(
            people::add_users(db, &[user("p1"), user("p2")], 3).unwrap(),
            2
        );
        assert_eq!(people::users(db).unwrap().len(), 3, "{}", store.name);
    }
}

#[test]
fn subnets_and_devices_round_trip_and_feed_the_policy_load() {
    use tutela_store::identities;
    for store in common::stores() {
        let mut db = store.open();
        let db = db.as_mut();
        let a = identities::add_subnet(db, "10.0.7.0/24", "pupils", Some("North")).unwrap();
        identities::add_subnet(db, "10.0.8.0/24", "pupils", None).unwrap();
        let rows = identities::subnets(db).unwrap();
        assert_eq!(rows.len(), 2, "{}", store.name);
        assert_eq!(rows[0].site.as_deref(), Some("North"));
        people::add_user(
            db,
            &NewUser {
                username: "ada".into(),
                kind: "pupil".into(),
                ..NewUser::default()
            },
            1,
        )
        .unwrap();
        identities::add_device(
            db,
            "laptop-1",
            Some("ada"),
            Some("North"),
            "tok_abcdefghijklmnopq",
            1,
        )
        .unwrap();
        assert!(
            identities::add_device(db, "laptop-1", None, None, "tok_other_abcdefghijk", 1).is_err()
        );
        assert!(identities::add_device(
            db,
            "laptop-2",
            Some("nobody"),
            None,
            "tok_other_abcdefghijk",
            1
        )
        .is_err());
        let (subnets, devices) = db.identities().unwrap();
        assert_eq!(subnets.len(), 2, "{}", store.name);
        assert_eq!(devices[0].user.as_deref(), Some("ada"));
        assert!(identities::remove_subnet(db, a).unwrap());
        assert!(!identities::remove_subnet(db, a).unwrap());
        let d = identities::devices(db).unwrap()[0].id;
        assert!(identities::remove_device(db, d).unwrap());
        assert!(
            identities::devices(db).unwrap().is_empty(),
            "{}",
            store.name
        );
    }
}
