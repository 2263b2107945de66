-- Tutela schema, version 1 (SQLite). Access events live in daily tables
-- (access_events_YYYYMMDD) made on demand; event_days lists them.
CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_us INTEGER NOT NULL
);
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    role TEXT NOT NULL DEFAULT 'pupil',
    password_hash TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL
);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(id),
    group_id INTEGER NOT NULL REFERENCES groups(id),
    PRIMARY KEY (user_id, group_id)
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    site_id INTEGER REFERENCES sites(id),
    owner_id INTEGER REFERENCES users(id),
    mac TEXT,
    doh_token TEXT UNIQUE,
    created_us INTEGER NOT NULL
);
CREATE TABLE identity_mappings (
    id INTEGER PRIMARY KEY,
    subnet TEXT NOT NULL,
    site_id INTEGER REFERENCES sites(id),
    group_id INTEGER NOT NULL REFERENCES groups(id)
);
CREATE TABLE list_sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    format TEXT NOT NULL,
    category TEXT,
    illegal_tier INTEGER NOT NULL DEFAULT 0,
    etag TEXT,
    last_modified TEXT,
    last_fetch_us INTEGER,
    last_status TEXT
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    time_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE event_days (day INTEGER PRIMARY KEY);
