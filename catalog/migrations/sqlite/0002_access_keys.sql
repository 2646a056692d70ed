-- Access keys: SigV4 key pairs and the principal each acts for. The secret
-- is stored only sealed under the master key (identity/seal); the catalogue
-- never holds it in plain text.
-- Times are Unix microseconds.

CREATE TABLE access_keys (
	id            TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
	principal_id  TEXT NOT NULL CHECK (principal_id <> ''),
	display_name  TEXT NOT NULL,
	roles         TEXT NOT NULL CHECK (json_type(roles) = 'array'),
	groups        TEXT NOT NULL CHECK (json_type(groups) = 'array'),
	sealed_secret BLOB NOT NULL CHECK (length(sealed_secret) > 0),
	status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
	description   TEXT NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Listing one principal's keys, in id order.
CREATE INDEX access_keys_principal ON access_keys (principal_id, id);
