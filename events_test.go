package backchannel_test

import (
	"os"
	"strings"
	"testing"

	"github.com/backchannel/backchannel"
)

// Every type of event is named in the API's documentation, and the ones every member reads are
// exactly those that carry no room's secrets.
func TestEventTypesAreDocumentedAndShared(t *testing.T) {
	doc, err := os.ReadFile("docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{
		backchannel.EventCharter: true, backchannel.EventRoot: true, backchannel.EventCredential: true,
		backchannel.EventRevocation: true, backchannel.EventAct: true, backchannel.EventStatement: true,
		// A room key is sealed to its room's members, but every member is served the sealed
		// bytes, so that none can be kept from those it is for.
		backchannel.EventRoomKey: true,
	}
	seen := make(map[string]bool)
	for _, typ := range backchannel.EventTypes {
		if seen[typ] {
			t.Errorf("event type %q is listed twice", typ)
		}
		seen[typ] = true
		if !strings.Contains(string(doc), "`"+typ+"`") {
			t.Errorf("docs/api.md does not name the event type %q", typ)
		}
		if got := backchannel.SharedEvent(typ); got != shared[typ] {
			t.Errorf("SharedEvent(%q) = %v", typ, got)
		}
		// Every event is either every member's or filed under a room, and tagged.
		if backchannel.RoomEvent(typ) == backchannel.SharedEvent(typ) {
			t.Errorf("RoomEvent(%q) = SharedEvent(%q)", typ, typ)
		}
	}
	if backchannel.SharedEvent("unknown") {
		t.Error("an unknown type is shared")
	}
}
