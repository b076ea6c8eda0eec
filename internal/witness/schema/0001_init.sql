-- The witness's state: its own key, the hosts whose logs it cosigns, and the latest checkpoint
-- it cosigned of each log. Hashes are raw bytes.

CREATE TABLE identity (
	only INTEGER PRIMARY KEY CHECK (only = 1),
	name TEXT    NOT NULL,
	seed BLOB    NOT NULL
);

CREATE TABLE hosts (
	host TEXT PRIMARY KEY,
	key  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE logs (
	origin     TEXT    PRIMARY KEY,
	size       INTEGER NOT NULL,
	hash       BLOB    NOT NULL,
	checkpoint BLOB    NOT NULL
) WITHOUT ROWID;
