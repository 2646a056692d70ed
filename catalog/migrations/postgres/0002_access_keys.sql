-- Access keys: SigV4 key pairs and the principal each acts for. The secret
-- is stored only sealed under the master key (identity/seal); the catalogue
-- never holds it in plain text.

CREATE TABLE access_keys (
	id            TEXT COLLATE "C" PRIMARY KEY CHECK (id <> ''),
	principal_id  TEXT COLLATE "C" NOT NULL CHECK (principal_id <> ''),
	display_name  TEXT NOT NULL,
	roles         JSONB NOT NULL CHECK (jsonb_typeof(roles) = 'array'),
	groups        JSONB NOT NULL CHECK (jsonb_typeof(groups) = 'array'),
	sealed_secret BYTEA NOT NULL CHECK (length(sealed_secret) > 0),
	status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
	description   TEXT NOT NULL DEFAULT '',
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);

-- Listing one principal's keys, in id order.
CREATE INDEX access_keys_principal ON access_keys (principal_id, id);
