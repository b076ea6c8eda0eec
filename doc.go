// Package backchannel is a secure channel for indirect, mediated negotiation.
//
// Parties that will not talk directly exchange written messages through a neutral mediator,
// each delegation in its own room, end-to-end encrypted so that the host cannot read, on a
// tamper-evident record that each party verifies for itself.
//
// The wire formats live in package seal and the rules of a negotiation in package talks; this
// package declares the types that cross the boundaries between them and the services that the
// server, the stores and the clients implement.
package backchannel
