-- Safeguarding alerts raised by the monitor, their triage notes (append
-- only: a note is never changed or removed), exclusions the DSL sets with a
-- scope, lexicons edited in the console (every version kept) and the weekly
-- digests sent.
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    created_us BIGINT NOT NULL,
    -- The last hit folded into this alert (deduplication).
    last_us BIGINT NOT NULL,
    -- The pupil: a username, or the device's address when unknown.
    subject TEXT NOT NULL,
    group_name TEXT,
    theme TEXT NOT NULL,
    severity BIGINT NOT NULL,
    rule TEXT NOT NULL,
    -- search, url, title, page or attempts
    source TEXT NOT NULL,
    -- The normalised text around the hit. Hostile input: escape it.
    excerpt TEXT NOT NULL,
    url TEXT,
    event_ref TEXT,
    hits BIGINT NOT NULL,
    -- new, in_review, false_positive, no_further_action, escalated
    state TEXT NOT NULL,
    notified_us BIGINT
);
CREATE INDEX alerts_open ON alerts (subject, theme, last_us);
CREATE INDEX alerts_state ON alerts (state, id);
CREATE TABLE alert_notes (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    at_us BIGINT NOT NULL,
    author TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX alert_notes_alert ON alert_notes (alert_id, id);
CREATE FUNCTION alert_notes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_notes is append-only';
END;
$$;
CREATE TRIGGER alert_notes_no_change BEFORE UPDATE OR DELETE ON alert_notes
    FOR EACH ROW EXECUTE FUNCTION alert_notes_append_only();
CREATE TABLE monitor_exclusions (
    id BIGSERIAL PRIMARY KEY,
    -- A word or phrase of the rule or the text around the hit ("isis").
    term TEXT NOT NULL,
    -- NULL: every theme, every group.
    theme TEXT,
    group_name TEXT,
    from_us BIGINT NOT NULL,
    until_us BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    ended_us BIGINT,
    ended_by TEXT
);
CREATE TABLE lexicon_versions (
    id BIGSERIAL PRIMARY KEY,
    -- en/self-harm.toml
    file TEXT NOT NULL,
    text TEXT NOT NULL,
    edited_by TEXT NOT NULL,
    edited_us BIGINT NOT NULL
);
CREATE INDEX lexicon_versions_file ON lexicon_versions (file, id);
CREATE FUNCTION lexicon_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lexicon_versions is append-only';
END;
$$;
CREATE TRIGGER lexicon_versions_no_change BEFORE UPDATE OR DELETE ON lexicon_versions
    FOR EACH ROW EXECUTE FUNCTION lexicon_versions_append_only();
CREATE TABLE alert_digests (
    -- The Monday the week starts, YYYY-MM-DD.
    week TEXT PRIMARY KEY,
    sent_us BIGINT NOT NULL
);
