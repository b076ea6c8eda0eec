-- The room tag of an event filed under a room, which its record leaf carries (docs/record.md);
-- NULL for an event every member reads, and for events appended before tags existed.
ALTER TABLE events ADD COLUMN tag BLOB;
