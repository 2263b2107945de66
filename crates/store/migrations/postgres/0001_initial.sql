-- Tutela schema, version 1 (PostgreSQL). access_events is partitioned by
-- day on time_us (microseconds since the Unix epoch, UTC); partitions are
-- made on demand and dropped whole by retention.
CREATE TABLE sites (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_us BIGINT NOT NULL
);
CREATE TABLE groups (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    role TEXT NOT NULL DEFAULT 'pupil',
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_us BIGINT NOT NULL
);
CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    PRIMARY KEY (user_id, group_id)
);
CREATE TABLE devices (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    site_id BIGINT REFERENCES sites(id),
    owner_id BIGINT REFERENCES users(id),
    mac TEXT,
    doh_token TEXT UNIQUE,
    created_us BIGINT NOT NULL
);
CREATE TABLE identity_mappings (
    id BIGSERIAL PRIMARY KEY,
    subnet TEXT NOT NULL,
    site_id BIGINT REFERENCES sites(id),
    group_id BIGINT NOT NULL REFERENCES groups(id)
);
CREATE TABLE list_sources (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    format TEXT NOT NULL,
    category TEXT,
    illegal_tier BOOLEAN NOT NULL DEFAULT FALSE,
    etag TEXT,
    last_modified TEXT,
    last_fetch_us BIGINT,
    last_status TEXT
);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    time_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TABLE access_events (
    reference BIGINT NOT NULL,
    time_us BIGINT NOT NULL,
    site TEXT,
    device TEXT,
    client_ip TEXT NOT NULL,
    user_name TEXT,
    group_name TEXT,
    protocol TEXT NOT NULL,
    host BYTEA NOT NULL,
    url BYTEA,
    search TEXT,
    action TEXT NOT NULL,
    categories TEXT NOT NULL,
    rule TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
) PARTITION BY RANGE (time_us);
-- No primary key: one more index to keep up at 100k events/s. References
-- are unique by construction, and a replayed journal skips events already
-- stored by (time_us, reference) through the time index.
-- Pages are ordered by (time_us, reference); the indexes end in both so a
-- page is read straight off the index, newest first, without a sort.
CREATE INDEX access_events_user ON access_events (user_name, time_us, reference);
CREATE INDEX access_events_ip ON access_events (client_ip, time_us, reference);
CREATE INDEX access_events_time ON access_events (time_us, reference);
