-- 003: each target keeps an incremental cursor: the newest publication time loaded.
ALTER TABLE targets ADD COLUMN cursor_published_at TIMESTAMP;
COMMENT ON COLUMN targets.cursor_published_at IS 'Newest published_at loaded for this target (UTC); the next crawl stops at it.';
