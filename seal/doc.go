// Package seal is the cryptographic core of backchannel: organisation roots, principals'
// credentials, sealed envelopes, relays, receipts and acts, and the trust decisions that
// accept or refuse them.
//
// An organisation is a [Root] (an Ed25519 key bound to an organisation id); its public half, a
// [RootKey], is pinned by [Fingerprint] when talks are set up. The root issues each principal a
// [Credential] binding the principal's identity key (Ed25519) and encryption key (HPKE with the
// hybrid ML-KEM-768 + X25519 KEM) to a rank and a validity period. A principal's private keys
// live in one [Identity] and nowhere else.
//
// [Identity.Seal] signs a message bound to its full [Context], encrypts it once under a fresh
// content key, wraps that key for each recipient with HPKE, and signs the resulting [Envelope]
// for the server. The server checks an envelope with [Trust.VerifyEnvelope] without being able
// to read it; a recipient uses [Identity.Open], which verifies everything up to a pinned root.
// [Identity.RelayVerbatim] lets a mediator pass on the author's own signed bytes, and
// [Identity.Summarize] marks the mediator's own words. [Receipt] and [Act] are signed
// statements that carry no secret.
//
// Every wire format is specified byte by byte in docs/protocol.md; testdata/vectors.json holds
// vectors that the tests re-derive. The package does no I/O, reads no clock and keeps no global
// state: callers pass randomness and time in.
package seal
