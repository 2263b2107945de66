-- Group policies edited in the console: each a whole group (as JSON in the
-- shape of a [policy.groups.NAME] table), which replaces or adds to the
-- configuration file's group of that name.
CREATE TABLE group_policies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
