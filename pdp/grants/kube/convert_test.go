package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/agentguard/agentguard/api/v1alpha1"
	"github.com/agentguard/agentguard/pdp/grants"
)

func TestConvertRoundTrip(t *testing.T) {
	t.Parallel()
	want := fullRequest("arq-conv")
	want.Version = "42"
	o := toObject(want, "agentguard-system")
	if o.Name != "arq-conv" || o.Namespace != "agentguard-system" || o.ResourceVersion != "42" {
		t.Errorf("object meta = %s/%s@%s", o.Namespace, o.Name, o.ResourceVersion)
	}
	wantLabels := map[string]string{
		labelPrincipal:   principalLabel(`Agent::"acme-agents/triage"`),
		labelState:       "approved",
		labelIdempotency: idempotencyLabel(want.Requester, "idem-1"),
	}
	if diff := cmp.Diff(wantLabels, o.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	for k, v := range o.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	got, err := fromObject(o.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, exactTimes); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	zero := &grants.Request{ID: "arq-zero"}
	got, err = fromObject(toObject(zero, "ns"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(zero, got); diff != "" {
		t.Errorf("zero request round trip (-want +got):\n%s", diff)
	}
}

func TestObjectName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id       string
		verbatim bool
	}{
		{"arq-1", true},
		{"arq-k3j5h6g7f8d9s0a1", true},
		{"nope", true},
		{"ARQ-1", false},
		{"arq.1", false},
		{"sha256.abc", false},
		{"arq/1", false},
		{"-arq", false},
		{"", false},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), false},
	} {
		name := objectName(tc.id)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("objectName(%q) = %q: not a valid name: %v", tc.id, name, errs)
		}
		if got := name == tc.id; got != tc.verbatim {
			t.Errorf("objectName(%q) = %q; verbatim %v, want %v", tc.id, name, got, tc.verbatim)
		}
		if !tc.verbatim && !strings.HasPrefix(name, "sha256.") {
			t.Errorf("objectName(%q) = %q, want a sha256. name", tc.id, name)
		}
		if objectName(tc.id) != name {
			t.Errorf("objectName(%q) is not deterministic", tc.id)
		}
	}
}

func FuzzObjectName(f *testing.F) {
	for _, s := range []string{"arq-1", "ARQ", "a.b", "sha256.x", "", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name := objectName(id)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Fatalf("objectName(%q) = %q: %v", id, name, errs)
		}
		// Names used verbatim never contain a dot; digests always do, so
		// no id can take another's name.
		if verbatim := name == id; verbatim == strings.Contains(name, ".") {
			t.Fatalf("objectName(%q) = %q", id, name)
		}
	})
}

func FuzzFromTimestamp(f *testing.F) {
	for _, s := range []string{"2026-11-27T10:00:00Z", "2026-11-27T10:00:00.123456789+01:00", "2026-11-27T10:00:00", "", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := fromTimestamp(v1alpha1.Timestamp(s))
		if err != nil || v.IsZero() {
			return
		}
		// What was read is written back as the same instant and offset.
		back, err := fromTimestamp(toTimestamp(v))
		if err != nil {
			t.Fatalf("re-read %q: %v", toTimestamp(v), err)
		}
		_, off := v.Zone()
		_, backOff := back.Zone()
		if !back.Equal(v) || backOff != off {
			t.Fatalf("%q: read %v, round trip %v", s, v, back)
		}
	})
}

func TestFromTimestampAcceptsSchemaForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[v1alpha1.Timestamp]time.Time{
		"":                                    {},
		"2026-11-27T10:00:00Z":                time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026-11-27T11:00:00.5+01:00":         time.Date(2026, 11, 27, 10, 0, 0, 5e8, time.UTC),
		"2026-11-27T10:00:00":                 time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026-11-27T10:00:00.000000001-00:00": time.Date(2026, 11, 27, 10, 0, 0, 1, time.UTC),
	} {
		got, err := fromTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("fromTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := fromTimestamp("27/11/2026"); err == nil {
		t.Error("fromTimestamp accepted a non-RFC 3339 date")
	}
}

func TestWatchedFailsClosed(t *testing.T) {
	t.Parallel()
	good := toObject(fullRequest("arq-w"), "ns")
	bad := good.DeepCopy()
	bad.Status.ApprovedUntil = "next tuesday"
	for name, tc := range map[string]struct {
		obj     any
		deleted bool
		want    grants.Status
	}{
		"update":                 {good, false, grants.StatusApproved},
		"delete":                 {good, true, grants.StatusRevoked},
		"tombstone":              {toolscache.DeletedFinalStateUnknown{Key: "ns/arq-w", Obj: good}, false, grants.StatusRevoked},
		"undecodable update":     {bad, false, grants.StatusRevoked},
		"undecodable without id": {&v1alpha1.AgentGrant{ObjectMeta: metav1.ObjectMeta{Name: "arq-w"}, Status: v1alpha1.AgentGrantStatus{ApprovedAt: "x"}}, false, grants.StatusRevoked},
	} {
		r := watched(tc.obj, tc.deleted)
		if r == nil || r.ID != "arq-w" || r.Status != tc.want {
			t.Errorf("%s: watched = %+v, want arq-w %s", name, r, tc.want)
		}
	}
	if r := watched(&metav1.Status{}, false); r != nil {
		t.Errorf("watched(a non-AgentGrant) = %+v", r)
	}
}
