package ids

import (
	"testing"

	"github.com/google/uuid"
)

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 10000 {
		id := New()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v, want a v7 RFC 9562 UUID", id, u.Version(), u.Variant())
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		if id < prev {
			t.Fatalf("ids not time-ordered: %s after %s", id, prev)
		}
		seen[id], prev = true, id
	}
}
