-- Buckets and their CORS and tag configuration.
-- COLLATE "C": names sort and compare by bytes, as S3 lists them, whatever
-- the database's locale.

CREATE TABLE buckets (
	name           TEXT COLLATE "C" PRIMARY KEY CHECK (name <> ''),
	owner_id       TEXT NOT NULL,
	owner_name     TEXT NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL,
	backend        TEXT NOT NULL DEFAULT '', -- '' = the default backend
	backend_bucket TEXT NOT NULL DEFAULT '',
	prefix         TEXT NOT NULL DEFAULT ''
);

-- One JSON array of rules per bucket; rule order matters to CORS matching.
CREATE TABLE bucket_cors (
	bucket TEXT COLLATE "C" PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
	rules  JSONB NOT NULL CHECK (jsonb_typeof(rules) = 'array')
);

CREATE TABLE bucket_tags (
	bucket    TEXT COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
	tag_key   TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (bucket, tag_key)
);
