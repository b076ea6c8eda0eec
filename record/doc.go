// Package record is the verifiable log of a talks: one RFC 6962 Merkle tree per talks whose
// leaves are the exact signed event bytes (ciphertext, never plaintext), checkpoints in the
// C2SP tlog-checkpoint format signed as C2SP signed notes, cosignatures in the C2SP
// tlog-cosignature format, and the tree served as C2SP tlog-tiles.
//
// The package has two sides. The server side (LogKey, StoredHashesForLeaves, NewCheckpoint,
// AddCosignature, CheckNotConflicting) appends and publishes; it persists nothing itself: the
// stores keep the entries and the stored hashes through the Log interface, and the server's
// tile handler serves a Log over HTTP. The party side (Verifier, Cosigner, TileClient,
// VerifyExport) checks everything the server says and refuses to go on when a check fails, with
// an error that names what is wrong. Package record/recordtest holds the in-memory log that the
// tests use as an honest host and as a dishonest one.
//
// Hashing, proofs and signed notes come from golang.org/x/mod/sumdb/tlog and
// golang.org/x/mod/sumdb/note, so that the tree and the notes are the ones every standard tlog
// client computes; only the C2SP tile paths, entry bundles and the cosignature/v1 signer are
// written here, because those libraries speak the sumdb dialect of them.
//
// docs/record.md describes what a party can prove, the origin and key naming, the tile layout,
// the cosignature rule and the export format.
package record
