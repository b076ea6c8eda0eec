package talks

import (
	"slices"
	"testing"
)

// A party joins late, by every party's consent and its own acceptance, and has its caucus from
// then on; another party may be removed by every other; a party may leave talks that keep two
// parties without it; and talks never drop below two parties.
func TestPartiesJoinAndLeave(t *testing.T) {
	tk := active(t, FormatIndirect)
	refused(t, tk, ErrLastParties, Propose{At: t0, By: usEnvoy, Motion: "drop-ir", Change: RemoveParty("ir")})
	refused(t, tk, ErrNoChange, Propose{At: t0, By: usEnvoy, Motion: "add-om", Change: AddParty("om", rootOf("om"))})

	// Qatar refuses its own admission: nothing changes.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "add-qa", Change: AddParty("qa", rootOf("qa"))},
		Vote{At: t0, By: irFM, Motion: "add-qa", Accept: true},
	)
	if got := tk.Voters(AddParty("qa", rootOf("qa"))); !slices.Equal(got, []string{"us", "ir", "qa"}) {
		t.Errorf("voters on admitting qa: %v", got)
	}
	if outcome(t, tk, "add-qa", t0) != OutcomePending || tk.Role("qa") != "" {
		t.Fatal("admitted before its own acceptance")
	}
	must(t, tk, Vote{At: t0, By: qaMinistry, Motion: "add-qa", Accept: false})
	if outcome(t, tk, "add-qa", t0) != OutcomeRefused || tk.Role("qa") != "" {
		t.Fatal("admitted though it refused")
	}

	// Asked again, it accepts: it is a party, heads its delegation, and has its caucus.
	must(t, tk,
		Propose{At: t0, By: irFM, Motion: "add-qa-2", Change: AddParty("qa", rootOf("qa"))},
		Vote{At: t0, By: usEnvoy, Motion: "add-qa-2", Accept: true},
		Vote{At: t0, By: qaMinistry, Motion: "add-qa-2", Accept: true},
	)
	if tk.Role("qa") != RoleParty || !slices.Equal(tk.Parties(), []string{"us", "ir", "qa"}) {
		t.Fatalf("after admission: role %q, parties %v", tk.Role("qa"), tk.Parties())
	}
	if h, ok := tk.Head("qa"); !ok || h.Principal != qaMinistry.Principal {
		t.Errorf("qa's head: %v %v", h, ok)
	}
	if !tk.HasRoom("caucus:qa", t0) || !slices.Equal(tk.Recipients("caucus:qa", t0), []string{qaMinistry.Principal, omFM.Principal}) {
		t.Errorf("qa's caucus: %v", tk.Recipients("caucus:qa", t0))
	}
	if tk.CanRead(qaMinistry.Principal, "caucus:us", t0) {
		t.Error("the newcomer reads another party's caucus")
	}
	if !slices.ContainsFunc(tk.Roots(), func(p Pin) bool { return p.Org == "qa" && p.Fingerprint == rootOf("qa") }) {
		t.Error("the newcomer's root is not pinned")
	}
	// From now on, every motion needs the newcomer's consent too.
	must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "venue", Change: SetVenue("Doha")}, Vote{At: t0, By: irFM, Motion: "venue", Accept: true})
	if outcome(t, tk, "venue", t0) != OutcomePending {
		t.Fatal("a motion passed without the newcomer's vote")
	}
	must(t, tk, Vote{At: t0, By: qaMinistry, Motion: "venue", Accept: true})

	// The others remove it, without its vote.
	if got := tk.Voters(RemoveParty("qa")); !slices.Equal(got, []string{"us", "ir"}) {
		t.Errorf("voters on removing qa: %v", got)
	}
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "drop-qa", Change: RemoveParty("qa")},
		Vote{At: t0, By: irFM, Motion: "drop-qa", Accept: true},
	)
	if tk.Role("qa") != "" || tk.HasRoom("caucus:qa", t0) || len(tk.Members("qa")) != 0 {
		t.Fatalf("after removal: role %q, members %v", tk.Role("qa"), tk.Members("qa"))
	}
	refused(t, tk, ErrNotMember, Propose{At: t0, By: qaMinistry, Motion: "back", Change: SetVenue("Doha")})
	// Its root stays pinned: it comes back under the same one or not at all.
	refused(t, tk, ErrRootMismatch, Propose{At: t0, By: usEnvoy, Motion: "add-qa-x", Change: AddParty("qa", rootOf("elsewhere"))})

	// Admitted once more (under the same pin), it leaves of its own accord: the talks go on.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "add-qa-3", Change: AddParty("qa", rootOf("qa"))},
		Vote{At: t0, By: irFM, Motion: "add-qa-3", Accept: true},
		Vote{At: t0, By: qaMinistry, Motion: "add-qa-3", Accept: true},
		Withdraw{At: t0, By: qaMinistry},
	)
	if tk.Status() != StatusActive || tk.Role("qa") != "" {
		t.Fatalf("after qa left: status %s, role %q", tk.Status(), tk.Role("qa"))
	}
	// With two parties left, one leaving ends the talks.
	must(t, tk, Withdraw{At: t0, By: irFM})
	if tk.Status() != StatusCollapsed {
		t.Fatalf("status %s after a party of two withdrew", tk.Status())
	}
}
