-- What may be used once (a signed login challenge), until it expires, for every node.
CREATE TABLE used_once (
	key        text   COLLATE "C" PRIMARY KEY,
	expires_ms bigint NOT NULL
);
CREATE INDEX used_once_by_expiry ON used_once (expires_ms);
