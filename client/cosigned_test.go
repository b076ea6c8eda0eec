package client_test

import (
	"testing"

	"github.com/backchannel/backchannel/client"
)

// The size a quorum confirms is the largest that at least that many parties have cosigned.
func TestQuorumSize(t *testing.T) {
	three := map[string]int64{"us": 30, "ir": 10, "eu": 20}
	for _, tc := range []struct {
		cosigned map[string]int64
		quorum   int
		want     int64
	}{
		{three, 3, 10},
		{three, 2, 20},
		{three, 1, 30},
		{three, 4, 0},
		{three, 0, 0},
		{map[string]int64{"us": 5, "ir": 0}, 2, 0},
		{map[string]int64{}, 1, 0},
	} {
		if got := client.QuorumSize(tc.cosigned, tc.quorum); got != tc.want {
			t.Errorf("QuorumSize(%v, %d) = %d, want %d", tc.cosigned, tc.quorum, got, tc.want)
		}
	}
}
