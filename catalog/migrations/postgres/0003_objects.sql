-- Object rows: what the metadata processor learnt of each object from the
-- backend, for listings and searches the backend cannot answer; and the
-- sequencers processors applied per key.
-- COLLATE "C": keys and sequencers compare by bytes, as S3 orders them, and
-- prefix ranges on key use the primary key.

CREATE TABLE objects (
	bucket               TEXT COLLATE "C" NOT NULL CHECK (bucket <> ''),
	key                  TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
	size                 BIGINT NOT NULL CHECK (size >= 0),
	etag                 TEXT NOT NULL,
	checksum_algorithm   TEXT NOT NULL DEFAULT '',
	checksum_value       TEXT NOT NULL DEFAULT '',
	checksum_type        TEXT NOT NULL DEFAULT '',
	content_type         TEXT NOT NULL DEFAULT '', -- as declared
	media_type           TEXT NOT NULL DEFAULT '', -- content_type, lower case, without parameters
	content_type_sniffed TEXT NOT NULL DEFAULT '', -- a media type, from the first bytes
	owner                TEXT NOT NULL DEFAULT '', -- principal that wrote this version
	owner_sequencer      TEXT COLLATE "C" NOT NULL DEFAULT '', -- of the event that named owner
	created_at           TIMESTAMPTZ NOT NULL,     -- the key's first version seen
	modified_at          TIMESTAMPTZ NOT NULL,     -- the backend's LastModified
	metadata             JSONB NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
	tags                 JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'object'),
	sequencer            TEXT COLLATE "C" NOT NULL DEFAULT '', -- the greatest event applied
	-- Filled by later hooks for the version etag and modified_at name;
	-- cleared when a new version is synced.
	image_width          INTEGER,
	image_height         INTEGER,
	exif                 JSONB,
	variants             JSONB,
	scan_verdict         TEXT,
	hook_error           TEXT,
	PRIMARY KEY (bucket, key)
);

-- Filters within a bucket; listings stay in (bucket, key) order.
CREATE INDEX objects_modified ON objects (bucket, modified_at);
CREATE INDEX objects_media_type ON objects (bucket, media_type);
CREATE INDEX objects_sniffed ON objects (bucket, content_type_sniffed);

-- Each object's tags, one row a tag, so that tag filters are plain
-- indexed joins in both databases. Kept in step with objects.tags.
CREATE TABLE object_tags (
	bucket    TEXT COLLATE "C" NOT NULL,
	key       TEXT COLLATE "C" NOT NULL,
	tag_key   TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (bucket, key, tag_key),
	FOREIGN KEY (bucket, key) REFERENCES objects (bucket, key) ON DELETE CASCADE
);

CREATE INDEX object_tags_pair ON object_tags (tag_key, tag_value, bucket, key);

-- The greatest sequencer each processor applied per key. A row outlives
-- the object's (a tombstone) until pruned by age.
CREATE TABLE hook_sequencers (
	bucket     TEXT COLLATE "C" NOT NULL,
	key        TEXT COLLATE "C" NOT NULL,
	processor  TEXT COLLATE "C" NOT NULL CHECK (processor <> ''),
	sequencer  TEXT COLLATE "C" NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (bucket, key, processor)
);

CREATE INDEX hook_sequencers_updated ON hook_sequencers (updated_at);
