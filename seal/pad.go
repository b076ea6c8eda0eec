package seal

import (
	"fmt"
	"math/bits"
)

// minPadded is the smallest padded plaintext: every short message (a note of a few words, an
// acknowledgement) looks alike.
const minPadded = 512

// paddedLen returns the length a plaintext of n bytes (the signed message and the 0x80 marker) is
// padded to: at least minPadded, and above it Padmé's bucket (Nikitin et al., "Reducing Metadata
// Leakage from Encrypted Files and Communication with PURBs", PETS 2019), which rounds n up by
// keeping only its top log2(log2(n))+1 significant bits. The host then learns a length's order
// of magnitude and a few bits more, never the exact size, for at most 12% of overhead.
func paddedLen(n int) int {
	if n <= minPadded {
		return minPadded
	}
	e := bits.Len(uint(n)) - 1 // floor(log2 n)
	s := bits.Len(uint(e))     // floor(log2 e) + 1
	mask := (1 << (e - s)) - 1 // the low bits Padmé drops
	return (n + mask) &^ mask
}

// pad appends the ISO/IEC 7816-4 padding of msg (0x80, then zeros) up to paddedLen, as Signal
// pads its messages before encrypting them.
func pad(msg []byte) []byte {
	n := paddedLen(len(msg) + 1)
	out := make([]byte, n)
	copy(out, msg)
	out[len(msg)] = 0x80
	return out
}

// unpad removes pad's padding, refusing any other: a marker that is missing, or a length that is
// not the canonical bucket of the message it pads (so that padding carries nothing of its own).
func unpad(b []byte) ([]byte, error) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, fmt.Errorf("%w: plaintext padding has no marker", ErrMalformed)
	}
	if len(b) != paddedLen(i+1) {
		return nil, fmt.Errorf("%w: plaintext of %d bytes padded to %d, not %d", ErrMalformed, i, len(b), paddedLen(i+1))
	}
	return b[:i], nil
}
