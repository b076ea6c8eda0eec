-- The first schema of the embedded store. Times are Unix milliseconds, hashes raw bytes.

CREATE TABLE talks (
	id         TEXT PRIMARY KEY,
	size       INTEGER NOT NULL,
	created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE talks_members (
	org   TEXT NOT NULL,
	talks TEXT NOT NULL REFERENCES talks(id),
	PRIMARY KEY (org, talks)
) WITHOUT ROWID;

CREATE TABLE events (
	talks   TEXT    NOT NULL REFERENCES talks(id),
	idx     INTEGER NOT NULL,
	type    TEXT    NOT NULL,
	room    TEXT    NOT NULL,
	hash    BLOB    NOT NULL,
	data    BLOB    NOT NULL,
	time_ms INTEGER NOT NULL,
	PRIMARY KEY (talks, idx)
);
CREATE UNIQUE INDEX events_by_hash ON events (talks, hash);

-- tlog stored hashes (golang.org/x/mod/sumdb/tlog.StoredHashIndex) of each talks' log.
CREATE TABLE hashes (
	talks TEXT    NOT NULL,
	idx   INTEGER NOT NULL,
	hash  BLOB    NOT NULL,
	PRIMARY KEY (talks, idx)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
	talks TEXT    NOT NULL,
	size  INTEGER NOT NULL,
	root  BLOB    NOT NULL,
	note  BLOB    NOT NULL,
	PRIMARY KEY (talks, size)
) WITHOUT ROWID;

CREATE TABLE cosignatures (
	talks    TEXT    NOT NULL,
	size     INTEGER NOT NULL,
	cosigner TEXT    NOT NULL,
	line     BLOB    NOT NULL,
	time_ms  INTEGER NOT NULL,
	PRIMARY KEY (talks, size, cosigner)
) WITHOUT ROWID;

CREATE TABLE organisations (
	id       TEXT PRIMARY KEY,
	root_key BLOB NOT NULL,
	name     TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE credentials (
	id         TEXT    PRIMARY KEY,
	principal  TEXT    NOT NULL,
	org        TEXT    NOT NULL,
	serial     INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	revocation BLOB
) WITHOUT ROWID;
CREATE INDEX credentials_by_principal ON credentials (principal, serial);

CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
