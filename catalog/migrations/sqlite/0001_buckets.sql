-- Buckets and their CORS and tag configuration.
-- TEXT compares by bytes (BINARY collation), as S3 lists names.
-- Times are Unix microseconds.

CREATE TABLE buckets (
	name           TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
	owner_id       TEXT NOT NULL,
	owner_name     TEXT NOT NULL,
	created_at     INTEGER NOT NULL,
	backend        TEXT NOT NULL DEFAULT '', -- '' = the default backend
	backend_bucket TEXT NOT NULL DEFAULT '',
	prefix         TEXT NOT NULL DEFAULT ''
) STRICT;

-- One JSON array of rules per bucket; rule order matters to CORS matching.
CREATE TABLE bucket_cors (
	bucket TEXT NOT NULL PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
	rules  TEXT NOT NULL CHECK (json_type(rules) = 'array')
) STRICT;

CREATE TABLE bucket_tags (
	bucket    TEXT NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
	tag_key   TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (bucket, tag_key)
) STRICT, WITHOUT ROWID;
