-- Object rows: what the metadata processor learnt of each object from the
-- backend, for listings and searches the backend cannot answer; and the
-- sequencers processors applied per key.
-- TEXT compares by bytes (BINARY collation), as S3 orders keys.
-- Times are Unix microseconds.

CREATE TABLE objects (
	bucket               TEXT NOT NULL CHECK (bucket <> ''),
	key                  TEXT NOT NULL CHECK (key <> ''),
	size                 INTEGER NOT NULL CHECK (size >= 0),
	etag                 TEXT NOT NULL,
	checksum_algorithm   TEXT NOT NULL DEFAULT '',
	checksum_value       TEXT NOT NULL DEFAULT '',
	checksum_type        TEXT NOT NULL DEFAULT '',
	content_type         TEXT NOT NULL DEFAULT '', -- as declared
	media_type           TEXT NOT NULL DEFAULT '', -- content_type, lower case, without parameters
	content_type_sniffed TEXT NOT NULL DEFAULT '', -- a media type, from the first bytes
	owner                TEXT NOT NULL DEFAULT '', -- principal that wrote this version
	owner_sequencer      TEXT NOT NULL DEFAULT '', -- of the event that named owner
	created_at           INTEGER NOT NULL,         -- the key's first version seen
	modified_at          INTEGER NOT NULL,         -- the backend's LastModified
	metadata             TEXT NOT NULL CHECK (json_type(metadata) = 'object'),
	tags                 TEXT NOT NULL CHECK (json_type(tags) = 'object'),
	sequencer            TEXT NOT NULL DEFAULT '', -- the greatest event applied
	-- Filled by later hooks for the version etag and modified_at name;
	-- cleared when a new version is synced.
	image_width          INTEGER,
	image_height         INTEGER,
	exif                 TEXT CHECK (exif IS NULL OR json_valid(exif)),
	variants             TEXT CHECK (variants IS NULL OR json_valid(variants)),
	scan_verdict         TEXT,
	hook_error           TEXT,
	PRIMARY KEY (bucket, key)
) STRICT;

-- Filters within a bucket; listings stay in (bucket, key) order.
CREATE INDEX objects_modified ON objects (bucket, modified_at);
CREATE INDEX objects_media_type ON objects (bucket, media_type);
CREATE INDEX objects_sniffed ON objects (bucket, content_type_sniffed);

-- Each object's tags, one row a tag, so that tag filters are plain
-- indexed joins in both databases. Kept in step with objects.tags.
CREATE TABLE object_tags (
	bucket    TEXT NOT NULL,
	key       TEXT NOT NULL,
	tag_key   TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (bucket, key, tag_key),
	FOREIGN KEY (bucket, key) REFERENCES objects (bucket, key) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX object_tags_pair ON object_tags (tag_key, tag_value, bucket, key);

-- The greatest sequencer each processor applied per key. A row outlives
-- the object's (a tombstone) until pruned by age.
CREATE TABLE hook_sequencers (
	bucket     TEXT NOT NULL,
	key        TEXT NOT NULL,
	processor  TEXT NOT NULL CHECK (processor <> ''),
	sequencer  TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (bucket, key, processor)
) STRICT, WITHOUT ROWID;

CREATE INDEX hook_sequencers_updated ON hook_sequencers (updated_at);
