package authzen

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestAppendDecision: appendDecision writes what encoding/json writes for
// every plain decision, field by field, whatever the strings hold.
func TestAppendDecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "permitted", "allow-allowlisted-tool-in-own-tenant", `quote " and \ back`, "<html>&amp;", "é ✓ 𝄞", "tab\tnl\n\x00ctl", "bad \xff utf8", "\u2028\u2029"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	for i := range 2000 {
		d := Decision{Decision: rng.IntN(2) == 0}
		if i%10 != 0 {
			c := &DecisionContext{DecisionID: pick(), EvaluationID: pick(), EvaluatedAt: pick(), Reason: pick(), Revision: pick(), Code: pick()}
			for range rng.IntN(3) {
				c.Policies = append(c.Policies, pick())
			}
			if rng.IntN(2) == 0 {
				c.ReasonAdmin = &Localized{En: pick()}
			}
			if rng.IntN(3) == 0 {
				c.Approval = &Approval{ID: pick(), ApprovedUntil: pick()}
			}
			d.Context = c
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(&d); err != nil {
			t.Fatal(err)
		}
		got := appendDecision(nil, &d)
		var gv, wv any
		if err := json.Unmarshal(got, &gv); err != nil {
			t.Fatalf("%+v: appendDecision wrote invalid JSON %q: %v", d, got, err)
		}
		_ = json.Unmarshal(want.Bytes(), &wv)
		if !reflect.DeepEqual(gv, wv) {
			t.Fatalf("appendDecision\n got %s\nwant %s", got, want.Bytes())
		}
		if got[len(got)-1] != '\n' {
			t.Fatal("no trailing newline")
		}
	}
}

func BenchmarkWriteDecision(b *testing.B) {
	d := Decision{Decision: true, Context: &DecisionContext{DecisionID: "019abc12-def0-7000-8000-123456789abc", EvaluationID: "019abc12-def0-7000-8000-123456789abc",
		EvaluatedAt: "2026-11-27T13:00:00.000Z", Policies: []string{"allow-allowlisted-tool-in-own-tenant"}, Reason: "permitted",
		ReasonAdmin: &Localized{En: "permitted by allow-allowlisted-tool-in-own-tenant"}, Revision: "sha256:abcdef"}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendDecision(buf[:0], &d)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_ = json.NewEncoder(&buf).Encode(&d)
		}
	})
}

// TestEvaluatedAt: decisions in one millisecond share a stamp; every stamp
// is RFC 3339 in UTC with milliseconds, whatever the zone of the time.
func TestEvaluatedAt(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	base := time.Date(2026, 11, 27, 14, 39, 1, 123_000_000, zone)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{base, "2026-11-27T09:39:01.123Z"},
		{base.Add(999 * time.Microsecond), "2026-11-27T09:39:01.123Z"},
		{base.Add(time.Millisecond), "2026-11-27T09:39:01.124Z"},
		{base, "2026-11-27T09:39:01.123Z"},
		{base.Add(-time.Hour).UTC(), "2026-11-27T08:39:01.123Z"},
	} {
		if got := evaluatedAt(c.at); got != c.want {
			t.Errorf("evaluatedAt(%v) = %q, want %q", c.at, got, c.want)
		}
	}
	if a, b := evaluatedAt(base), evaluatedAt(base.Add(500*time.Microsecond)); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two decisions in one millisecond formatted the stamp twice")
	}
}
