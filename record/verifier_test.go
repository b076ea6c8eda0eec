package record_test

import (
	"encoding/json"
	"testing"

	"github.com/backchannel/backchannel/record"
)

func TestVerifierStateSurvivesARestart(t *testing.T) {
	a := testCosigner(t, "party-a")
	m := newTestLog(t, 20, a)
	c := serve(t, m)
	v := newTestVerifier(t)
	if _, err := c.Sync(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Cosign(a, testTime); err != nil {
		t.Fatal(err)
	}
	m.Append(entries(20, 25)...)
	if _, err := c.Sync(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	saved, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r, err := record.RestoreVerifier(saved)
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != v.State() {
		t.Fatalf("restored %+v, saved %+v", r.State(), v.State())
	}
	if cp, _ := r.Cosigned(); cp.Size != 20 {
		t.Fatalf("restored cosigned size %d", cp.Size)
	}
	if cp, _ := r.Latest(); cp.Size != 25 {
		t.Fatalf("restored latest size %d", cp.Size)
	}
	// The restored verifier still refuses a rewrite of what it cosigned.
	m.Rewrite(swap(0, 1))
	m.ForcePublish()
	_, err = c.Sync(t.Context(), r)
	wantErr(t, err, record.ErrInconsistent)
}

func TestRestoreVerifierRefusesTamperedState(t *testing.T) {
	m := newTestLog(t, 5)
	ckpt, _ := m.Checkpoint(t.Context())
	good := record.VerifierState{Origin: testOrigin, LogKey: hostVKey(t), Latest: string(ckpt)}
	impostor, _ := record.NewLogKey(testKey("impostor"))
	bad, _ := impostor.VerifierKey(testHost)
	for _, tc := range []struct {
		name  string
		state record.VerifierState
		want  error
	}{
		{"good", good, nil},
		{"latest not signed by the key", record.VerifierState{Origin: testOrigin, LogKey: bad, Latest: string(ckpt)}, record.ErrBadSignature},
		{"another origin", record.VerifierState{Origin: "backchannel.example/talks/other", LogKey: hostVKey(t), Latest: string(ckpt)}, record.ErrWrongOrigin},
		{"cosigned beyond latest", record.VerifierState{Origin: testOrigin, LogKey: hostVKey(t), Cosigned: string(ckpt)}, record.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(tc.state)
			_, err := record.RestoreVerifier(b)
			wantErr(t, err, tc.want)
		})
	}
	_, err := record.RestoreVerifier([]byte("{"))
	wantErr(t, err, record.ErrMalformed)
}
