//! Both backends, against the real databases: hostile strings, queries,
//! pagination, retention, the audit log and CSV export.

mod common;

use common::{at, event, stores};
use tutela_store::query::neutralise_cell;
use tutela_store::{write_csv, AuditEntry, EventQuery};

#[test]
fn migrations_are_idempotent() {
    for s in stores() {
        let mut db = s.open();
        assert!(
            db.migrate().unwrap().is_empty(),
            "{}: second migrate applied something",
            s.name
        );
    }
}

#[test]
fn hostile_strings_come_back_byte_for_byte() {
    for s in stores() {
        let mut db = s.open();
        let t = at("2026-12-01T10:00:00Z");
        let mut evil = Vec::new();
        let mut e = event(1, t);
        e.host = b"\xff\xfebad\x00name.example".to_vec();
        e.url =
            Some(b"http://x/'; DROP TABLE access_events; --\x00\r\n=cmd|' /C calc'!A0".to_vec());
        e.user = Some("o'brien\"; --".into());
        e.search = Some("100% _sure_ \\ 'quoted'".into());
        e.categories = vec!["adult".into(), "it's".into()];
        evil.push(e);
        let mut long = event(2, t + 1);
        let mut url = b"http://long.example/".to_vec();
        url.extend(std::iter::repeat_n(b'a', 64 * 1024));
        long.url = Some(url);
        evil.push(long);
        db.insert_events(&evil).unwrap();
        let mut back = db.query_events(&EventQuery::default()).unwrap();
        back.sort_by_key(|e| e.reference);
        assert_eq!(back, evil, "{}", s.name);

        // LIKE metacharacters in a search are literal.
        let q = EventQuery {
            search: Some("100% _sure_".into()),
            ..Default::default()
        };
        assert_eq!(db.query_events(&q).unwrap().len(), 1, "{}", s.name);
        let q = EventQuery {
            search: Some("%".into()),
            ..Default::default()
        };
        assert_eq!(
            db.query_events(&q).unwrap().len(),
            1,
            "{}: % is literal",
            s.name
        );
        let q = EventQuery {
            search: Some("1_0".into()),
            ..Default::default()
        };
        assert_eq!(
            db.query_events(&q).unwrap().len(),
            0,
            "{}: _ is literal",
            s.name
        );
        let q = EventQuery {
            category: Some("it's".into()),
            ..Default::default()
        };
        assert_eq!(db.query_events(&q).unwrap().len(), 1, "{}", s.name);

        // The export parses back, row for row, and holds no live formula.
        let mut csv = Vec::new();
        write_csv(&mut csv, &back).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            for cell in row.iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@']),
                    "{}: live formula {cell:?}",
                    s.name
                );
                assert!(
                    !cell.contains('\r') && !cell.contains('\0'),
                    "{}: {cell:?}",
                    s.name
                );
            }
        }
        assert_eq!(&rows[0][5], "o'brien\"; --");
        assert!(rows[0][9].contains("DROP TABLE"));
    }
}

#[test]
fn queries_filter_and_page_newest_first_across_days() {
    for s in stores() {
        let mut db = s.open();
        let base = at("2026-11-29T08:00:00Z");
        let mut events = Vec::new();
        for i in 0..300i64 {
            // Three days, 100 events a day, an hour apart in the day.
            let day = i / 100;
            let mut e = event(
                1000 + i,
                base + day * 86_400_000_000 + (i % 100) * 60_000_000,
            );
            if i % 3 == 0 {
                e.user = Some("bob".into());
                e.client_ip = "10.9.9.9".into();
            }
            if i % 10 == 0 {
                e.action = "block".into();
                e.categories = vec!["gambling".into(), "games".into()];
                e.rule = "group-block-category".into();
            }
            if i % 50 == 0 {
                e.search = Some(format!("How To Win {i}"));
            }
            events.push(e);
        }
        for chunk in events.chunks(77) {
            db.insert_events(chunk).unwrap();
        }
        assert_eq!(
            db.days().unwrap(),
            vec![20261129, 20261130, 20261201],
            "{}",
            s.name
        );

        let all = db
            .query_events(&EventQuery {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 300);
        assert!(
            all.windows(2).all(|w| w[0].time_us >= w[1].time_us),
            "{}: newest first",
            s.name
        );

        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    user: Some("bob".into()),
                    ..Default::default()
                }
            ),
            100
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    ip: Some("10.9.9.9".into()),
                    ..Default::default()
                }
            ),
            100
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    action: Some("block".into()),
                    ..Default::default()
                }
            ),
            30
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    category: Some("games".into()),
                    ..Default::default()
                }
            ),
            30
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    category: Some("game".into()),
                    ..Default::default()
                }
            ),
            0
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    search: Some("how to WIN".into()),
                    ..Default::default()
                }
            ),
            6
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    device: Some("laptop-7".into()),
                    ..Default::default()
                }
            ),
            300
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    site: Some("other".into()),
                    ..Default::default()
                }
            ),
            0
        );
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    group: Some("pupils".into()),
                    ..Default::default()
                }
            ),
            300
        );
        let day2 = EventQuery {
            since_us: Some(at("2026-11-30T00:00:00Z")),
            until_us: Some(at("2026-12-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(count(db.as_mut(), day2.clone()), 100);
        // Day two holds i in 100..200; bob's blocks are i % 30 == 0.
        assert_eq!(
            count(
                db.as_mut(),
                EventQuery {
                    user: Some("bob".into()),
                    action: Some("block".into()),
                    ..day2
                }
            ),
            (100..200).filter(|i| i % 30 == 0).count()
        );

        // Pages of 40 walk the whole log once, in order, with no repeats.
        let mut seen = Vec::new();
        let mut q = EventQuery {
            limit: 40,
            ..Default::default()
        };
        loop {
            let page = db.query_events(&q).unwrap();
            if page.is_empty() {
                break;
            }
            let last = page.last().unwrap();
            q.before = Some((last.time_us, last.reference.0));
            seen.extend(page.into_iter().map(|e| e.reference.0));
        }
        let expected: Vec<i64> = all.iter().map(|e| e.reference.0).collect();
        assert_eq!(seen, expected, "{}", s.name);

        // Retention drops whole days.
        assert_eq!(
            db.drop_days_before(20261201).unwrap(),
            vec![20261129, 20261130]
        );
        assert_eq!(db.days().unwrap(), vec![20261201]);
        assert_eq!(count(db.as_mut(), EventQuery::default()), 100);
    }
}

#[test]
fn replayed_events_are_not_duplicated() {
    for s in stores() {
        let mut db = s.open();
        let t = at("2026-12-01T09:00:00Z");
        let batch: Vec<_> = (0..10).map(|i| event(i, t + i)).collect();
        db.insert_events(&batch).unwrap();
        db.insert_replayed(&batch[5..]).unwrap();
        assert_eq!(
            db.query_events(&EventQuery::default()).unwrap().len(),
            10,
            "{}",
            s.name
        );
    }
}

#[test]
fn audit_log_is_append_only() {
    for s in stores() {
        let mut db = s.open();
        let entry = AuditEntry {
            time_us: at("2026-12-01T09:00:00Z"),
            actor: "it.manager".into(),
            action: "override.add".into(),
            object: "site:example.org".into(),
            before: None,
            after: Some("{\"action\":\"allow\"}".into()),
            reason: Some("Year 9 project".into()),
        };
        db.append_audit(&entry).unwrap();
        assert!(
            db.execute_raw("UPDATE audit_log SET actor = 'someone else'")
                .is_err(),
            "{}",
            s.name
        );
        assert!(
            db.execute_raw("DELETE FROM audit_log").is_err(),
            "{}",
            s.name
        );
        if s.name == "postgres" {
            assert!(db.execute_raw("TRUNCATE audit_log").is_err());
        }
        assert_eq!(db.audit_log(10).unwrap(), vec![entry], "{}", s.name);
    }
}

#[test]
fn neutralised_cells_keep_their_text() {
    assert_eq!(neutralise_cell("=1+1"), "'=1+1");
}

fn count(db: &mut dyn tutela_store::Backend, q: EventQuery) -> usize {
    db.query_events(&EventQuery { limit: 1000, ..q })
        .unwrap()
        .len()
}

#[test]
fn a_large_batch_goes_in_whole() {
    // Large enough that PostgreSQL splits it over two connections.
    for s in stores() {
        let mut db = s.open();
        let t = at("2026-12-01T09:00:00Z");
        let batch: Vec<_> = (0..45_000).map(|i| event(i, t + i)).collect();
        db.insert_events(&batch).unwrap();
        let mut refs: Vec<i64> = db
            .query_all(&EventQuery::default())
            .unwrap()
            .iter()
            .map(|e| e.reference.0)
            .collect();
        refs.sort();
        assert_eq!(refs, (0..45_000).collect::<Vec<_>>(), "{}", s.name);
    }
}

#[test]
fn stores_made_before_page_views_are_upgraded_in_place() {
    for s in stores() {
        let t = at("2026-12-01T10:00:00Z");
        {
            let mut db = s.open();
            let mut before = event(1, t);
            before.page_view = false;
            db.insert_events(&[before]).unwrap();
            // Back to the layout of a store made before the column existed.
            let downgrade = if db.kind() == "sqlite" {
                "ALTER TABLE access_events_20261201 DROP COLUMN page_view"
            } else {
                "ALTER TABLE access_events DROP COLUMN page_view; DELETE FROM schema_migrations WHERE version = 2"
            };
            db.execute_raw(downgrade).unwrap();
        }
        let mut db = s.open();
        db.migrate().unwrap();
        let mut after = event(2, t + 1);
        after.page_view = true;
        db.insert_events(&[after]).unwrap();
        let mut back = db.query_events(&EventQuery::default()).unwrap();
        back.sort_by_key(|e| e.reference);
        let views: Vec<bool> = back.iter().map(|e| e.page_view).collect();
        assert_eq!(views, vec![false, true], "{}", s.name);
    }
}

#[test]
fn the_website_filter_finds_a_host_and_the_names_under_it() {
    for s in stores() {
        let mut db = s.open();
        let hosts: [&[u8]; 5] = [
            b"example.com",
            b"www.example.com",
            b"badexample.com",
            b"example.com.evil.test",
            b"\xff\xfe.example.com",
        ];
        let events: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let mut e = event(i as i64 + 1, at("2026-12-01T10:00:00Z") + i as i64);
                e.host = h.to_vec();
                e
            })
            .collect();
        db.insert_events(&events).unwrap();
        let found = |host: &str, db: &mut Box<dyn tutela_store::Backend>| {
            let mut refs: Vec<i64> = db
                .query_all(&EventQuery {
                    host: Some(host.into()),
                    ..Default::default()
                })
                .unwrap()
                .iter()
                .map(|e| e.reference.0)
                .collect();
            refs.sort();
            refs
        };
        assert_eq!(found("example.com", &mut db), vec![1, 2, 5], "{}", s.name);
        assert_eq!(found("EXAMPLE.com.", &mut db), vec![1, 2, 5], "{}", s.name);
        assert_eq!(found("www.example.com", &mut db), vec![2], "{}", s.name);
        assert_eq!(found("com", &mut db), vec![1, 2, 3, 5], "{}", s.name);
        assert!(found("%", &mut db).is_empty(), "{}", s.name);
    }
}
