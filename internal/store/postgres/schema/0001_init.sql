-- The first schema of the PostgreSQL store. Times are Unix milliseconds, as in the SQLite store;
-- hashes are raw bytes. Identifiers compare byte by byte (COLLATE "C") whatever the database's
-- locale, so that listings and the order in which appends lock their talks are the same on every
-- node and every installation.

CREATE TABLE talks (
	id         text COLLATE "C" PRIMARY KEY,
	size       bigint NOT NULL,
	created_ms bigint NOT NULL,
	-- The transaction that last grew the log. A node whose LISTEN connection dropped finds every
	-- log that grew while it was deaf by this column (see listen.go).
	xact       xid8   NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX talks_by_xact ON talks (xact);

CREATE TABLE talks_members (
	org   text COLLATE "C" NOT NULL,
	talks text COLLATE "C" NOT NULL REFERENCES talks (id),
	PRIMARY KEY (org, talks)
);
CREATE INDEX talks_members_by_talks ON talks_members (talks);

CREATE TABLE events (
	talks   text COLLATE "C" NOT NULL REFERENCES talks (id),
	idx     bigint NOT NULL,
	type    text   COLLATE "C" NOT NULL,
	room    text   COLLATE "C" NOT NULL,
	hash    bytea  NOT NULL,
	data    bytea  NOT NULL,
	time_ms bigint NOT NULL,
	PRIMARY KEY (talks, idx)
);
CREATE UNIQUE INDEX events_by_hash ON events (talks, hash);
-- Event data is mostly ciphertext: compressing it wastes CPU and saves nothing.
ALTER TABLE events ALTER COLUMN data SET STORAGE EXTERNAL;

-- tlog stored hashes (golang.org/x/mod/sumdb/tlog.StoredHashIndex) of each talks' log.
CREATE TABLE hashes (
	talks text   COLLATE "C" NOT NULL,
	idx   bigint NOT NULL,
	hash  bytea  NOT NULL,
	PRIMARY KEY (talks, idx)
);

CREATE TABLE checkpoints (
	talks text   COLLATE "C" NOT NULL,
	size  bigint NOT NULL,
	root  bytea  NOT NULL,
	note  bytea  NOT NULL,
	PRIMARY KEY (talks, size)
);

CREATE TABLE cosignatures (
	talks    text   COLLATE "C" NOT NULL,
	size     bigint NOT NULL,
	cosigner text   COLLATE "C" NOT NULL,
	line     bytea  NOT NULL,
	time_ms  bigint NOT NULL,
	PRIMARY KEY (talks, size, cosigner)
);
CREATE INDEX cosignatures_by_cosigner ON cosignatures (talks, cosigner, size);

CREATE TABLE organisations (
	id       text  COLLATE "C" PRIMARY KEY,
	root_key bytea NOT NULL,
	name     text  NOT NULL
);

CREATE TABLE credentials (
	id         text   COLLATE "C" PRIMARY KEY,
	principal  text   COLLATE "C" NOT NULL,
	org        text   COLLATE "C" NOT NULL,
	serial     bigint NOT NULL,
	data       bytea  NOT NULL,
	revocation bytea
);
CREATE INDEX credentials_by_principal ON credentials (principal, serial);

CREATE TABLE secrets (
	name  text  COLLATE "C" PRIMARY KEY,
	value bytea NOT NULL
);
