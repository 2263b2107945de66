-- Main-frame page views (a browser asked for a document), so reports can
-- tell visits from page assets. Older events read as not page views.
ALTER TABLE access_events ADD COLUMN IF NOT EXISTS page_view BOOLEAN NOT NULL DEFAULT FALSE;
