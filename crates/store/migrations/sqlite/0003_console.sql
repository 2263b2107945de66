-- The console: who may sign in and in which role, their second factor,
-- guests' expiry and pupils' year groups; server-side sessions; and
-- temporary-unblock requests (change control).
ALTER TABLE users ADD COLUMN console_role TEXT;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN expires_us INTEGER;
ALTER TABLE users ADD COLUMN year_group TEXT;
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    second_factor_done INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    seen_us INTEGER NOT NULL
);
CREATE TABLE unblock_requests (
    id INTEGER PRIMARY KEY,
    created_us INTEGER NOT NULL,
    -- The staff member who needs the site, and the day they asked.
    staff_name TEXT NOT NULL,
    requested_on TEXT NOT NULL,
    url TEXT NOT NULL,
    -- What the override allows: a domain or a host/path prefix.
    site TEXT NOT NULL,
    reason TEXT NOT NULL,
    revert_us INTEGER NOT NULL,
    -- The year groups or staff who will use the site.
    audience TEXT NOT NULL,
    -- The group the allow is for; NULL for everyone.
    group_name TEXT,
    event_ref TEXT,
    -- The console user who entered the request.
    requested_by TEXT NOT NULL,
    -- pending, approved, refused, reverted, withdrawn
    status TEXT NOT NULL,
    -- The person who made (or refused) the change.
    decided_by TEXT,
    decided_us INTEGER,
    decision_note TEXT,
    reverted_us INTEGER
);
CREATE INDEX unblock_requests_status ON unblock_requests (status, revert_us);
