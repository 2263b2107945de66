-- Safeguarding alerts raised by the monitor, their triage notes (append
-- only: a note is never changed or removed), exclusions the DSL sets with a
-- scope, lexicons edited in the console (every version kept) and the weekly
-- digests sent.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    created_us INTEGER NOT NULL,
    -- The last hit folded into this alert (deduplication).
    last_us INTEGER NOT NULL,
    -- The pupil: a username, or the device's address when unknown.
    subject TEXT NOT NULL,
    group_name TEXT,
    theme TEXT NOT NULL,
    severity INTEGER NOT NULL,
    rule TEXT NOT NULL,
    -- search, url, title, page or attempts
    source TEXT NOT NULL,
    -- The normalised text around the hit. Hostile input: escape it.
    excerpt TEXT NOT NULL,
    url TEXT,
    event_ref TEXT,
    hits INTEGER NOT NULL,
    -- new, in_review, false_positive, no_further_action, escalated
    state TEXT NOT NULL,
    notified_us INTEGER
);
CREATE INDEX alerts_open ON alerts (subject, theme, last_us);
CREATE INDEX alerts_state ON alerts (state, id);
CREATE TABLE alert_notes (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    at_us INTEGER NOT NULL,
    author TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX alert_notes_alert ON alert_notes (alert_id, id);
CREATE TRIGGER alert_notes_no_update BEFORE UPDATE ON alert_notes
BEGIN SELECT RAISE(ABORT, 'alert_notes is append-only'); END;
CREATE TRIGGER alert_notes_no_delete BEFORE DELETE ON alert_notes
BEGIN SELECT RAISE(ABORT, 'alert_notes is append-only'); END;
CREATE TABLE monitor_exclusions (
    id INTEGER PRIMARY KEY,
    -- A word or phrase of the rule or the text around the hit ("isis").
    term TEXT NOT NULL,
    -- NULL: every theme, every group.
    theme TEXT,
    group_name TEXT,
    from_us INTEGER NOT NULL,
    until_us INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    ended_us INTEGER,
    ended_by TEXT
);
CREATE TABLE lexicon_versions (
    id INTEGER PRIMARY KEY,
    -- en/self-harm.toml
    file TEXT NOT NULL,
    text TEXT NOT NULL,
    edited_by TEXT NOT NULL,
    edited_us INTEGER NOT NULL
);
CREATE INDEX lexicon_versions_file ON lexicon_versions (file, id);
CREATE TRIGGER lexicon_versions_no_update BEFORE UPDATE ON lexicon_versions
BEGIN SELECT RAISE(ABORT, 'lexicon_versions is append-only'); END;
CREATE TRIGGER lexicon_versions_no_delete BEFORE DELETE ON lexicon_versions
BEGIN SELECT RAISE(ABORT, 'lexicon_versions is append-only'); END;
CREATE TABLE alert_digests (
    -- The Monday the week starts, YYYY-MM-DD.
    week TEXT PRIMARY KEY,
    sent_us INTEGER NOT NULL
);
