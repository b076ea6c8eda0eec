-- What may be used once (a signed login challenge), until it expires, for every node.
CREATE TABLE used_once (
	key        TEXT    PRIMARY KEY,
	expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_once_by_expiry ON used_once (expires_ms);
