// Package recordtest is the reference log and the adversary of the record's tests.
//
// MemLog keeps a talks' log in memory and does what the server does when it appends (stored
// hashes, a signed checkpoint, the cosignature rule) and serves it as the server does (the C2SP
// tlog-tiles layout, with the server's tile handler), so that a party's side of package record
// (Verifier, TileClient, VerifyExport) can be tested against an honest host without a store.
// Its fault methods then play a dishonest host: one that deletes, swaps, alters, truncates or
// forks the log (TamperEntries, Rewrite, ForcePublish, CorruptHash, Fork), so that tests can
// show each fault is caught and named.
//
// Nothing here belongs in a server: it holds everything in memory and, by design, can lie.
package recordtest
