//go:build race

package main

// raceEnabled is whether the tests run with the race detector: the binary they start is then
// built with it too, so that a data race in the server under the tests' load fails them.
const raceEnabled = true
