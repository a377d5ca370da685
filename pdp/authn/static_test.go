package authn

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"
)

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	st, err := LoadStaticTokens(filepath.Join("testdata", "static-tokens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st.now = func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) }
	if st.Len() != 3 {
		t.Fatalf("Len = %d", st.Len())
	}
	tests := []struct {
		token   string
		want    *Identity
		wantErr error
	}{
		{token: "dev-token-triage", want: &Identity{
			Kind: KindStatic, Principal: AgentPrincipal("acme-agents", "triage"), Namespace: "acme-agents", ServiceAccount: "triage",
			Username: "acme-agents/triage", CredentialID: HashToken("dev-token-triage")[:12],
		}},
		{token: "dev-token-alice", want: &Identity{
			Kind: KindStatic, Principal: types.NewEntityUID("User", "alice@acme.example"), Username: "alice@acme.example",
			Groups: []string{"acme-approvers"}, CredentialID: HashToken("dev-token-alice")[:12],
		}},
		{token: "dev-token-expired", wantErr: ErrUnauthenticated},
		{token: "dev-token-unknown", wantErr: ErrUnauthenticated},
		{token: HashToken("dev-token-triage"), wantErr: ErrUnauthenticated}, // the hash is not the token
		{token: "", wantErr: ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			got, err := st.Authenticate(bearerRequest(tt.token))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got %+v, %v; want %v", got, err, tt.wantErr)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error %q contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrincipalEntity(t *testing.T) {
	t.Parallel()
	id := &Identity{Principal: types.NewEntityUID("User", "alice"), Groups: []string{"acme-approvers", "oncall"}}
	want := types.Entity{
		UID:     types.NewEntityUID("User", "alice"),
		Parents: types.NewEntityUIDSet(types.NewEntityUID(GroupType, "acme-approvers"), types.NewEntityUID(GroupType, "oncall")),
	}
	if got := id.PrincipalEntity(); !got.Equal(want) {
		t.Errorf("PrincipalEntity = %v, want %v", got, want)
	}
}

func TestParseStaticTokensErrors(t *testing.T) {
	t.Parallel()
	h := HashToken("x")
	for name, data := range map[string]string{
		"not a list":         "sha256: " + h,
		"unknown field":      "- {sha256: " + h + ", principal: {type: Agent, id: a/b}, token: x}",
		"token, not hash":    "- {sha256: dev-token, principal: {type: Agent, id: a/b}}",
		"short hash":         "- {sha256: " + h[:62] + ", principal: {type: Agent, id: a/b}}",
		"no principal":       "- {sha256: " + h + "}",
		"no principal id":    "- {sha256: " + h + ", principal: {type: Agent}}",
		"bad principal type": "- {sha256: " + h + ", principal: {type: 'Ag ent', id: a}}",
		"duplicate":          "- {sha256: " + h + ", principal: {type: Agent, id: a/b}}\n- {sha256: " + strings.ToUpper(h) + ", principal: {type: Agent, id: c/d}}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseStaticTokens([]byte(data)); err == nil {
				t.Errorf("ParseStaticTokens(%q) succeeded", data)
			}
		})
	}
	st, err := ParseStaticTokens([]byte("[]"))
	if err != nil || st.Len() != 0 {
		t.Errorf("empty list: %v, %v", st, err)
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if a == b || !strings.HasPrefix(a, "agt_") || len(a) != 4+43 || !isB64Token(a) {
		t.Errorf("NewToken = %q, %q", a, b)
	}
	st, err := ParseStaticTokens([]byte("- {sha256: " + HashToken(a) + ", principal: {type: Agent, id: ns/sa}}"))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := st.Authenticate(bearerRequest(a)); err != nil || id.Principal != AgentPrincipal("ns", "sa") {
		t.Errorf("minted token: %v, %v", id, err)
	}
}

func FuzzParseStaticTokens(f *testing.F) {
	f.Add([]byte("- {sha256: " + HashToken("x") + ", principal: {type: Agent, id: a/b}, groups: [g]}"))
	f.Add([]byte("[]"))
	f.Add([]byte("- sha256: 00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStaticTokens(data)
		if err != nil {
			return
		}
		for _, tok := range st.tokens {
			if tok.entry.Principal.Type == "" || tok.entry.Principal.ID == "" {
				t.Fatalf("accepted an entry without a principal: %+v", tok.entry)
			}
		}
	})
}
