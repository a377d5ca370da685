package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRedactArgs(t *testing.T) {
	t.Parallel()
	mask, err := NewRedactor(RedactionRules{
		Keys:   []string{"*ssn*"},
		Paths:  []string{"/input/messages", "/headers/*", "/a~1b"},
		Values: []string{`[a-z0-9.]+@[a-z0-9.]+`, `\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}\b`},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"default keys", `{"Authorization":"Bearer abc","nested":{"API_KEY":1,"password":{"x":1}},"ok":"fine"}`,
			`{"Authorization":"[REDACTED]","nested":{"API_KEY":"[REDACTED]","password":"[REDACTED]"},"ok":"fine"}`},
		{"prompts", `{"system_prompt":"you are","gen_ai.input.messages":[1],"gen_ai.system_instructions":"x","prompt_tokens":5}`,
			`{"gen_ai.input.messages":"[REDACTED]","gen_ai.system_instructions":"[REDACTED]","prompt_tokens":"[REDACTED]","system_prompt":"[REDACTED]"}`},
		{"rule keys", `{"user":{"SSN_number":"123"}}`, `{"user":{"SSN_number":"[REDACTED]"}}`},
		{"paths", `{"input":{"messages":["hi"],"other":"x"},"headers":{"a":"1","b":"2"},"a/b":3}`,
			`{"a/b":"[REDACTED]","headers":{"a":"[REDACTED]","b":"[REDACTED]"},"input":{"messages":"[REDACTED]","other":"x"}}`},
		{"array path", `{"headers":["x","y"]}`, `{"headers":["[REDACTED]","[REDACTED]"]}`},
		{"values", `{"note":"mail bob@example.com card 4111 1111 1111 1111 ok"}`, `{"note":"mail [REDACTED] card [REDACTED] ok"}`},
		{"credentials in values", `{"h":"Bearer abcdefghijklmnopqrstuvwxyz012","j":"x eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl y","p":"basic checks passed"}`,
			`{"h":"Bearer [REDACTED]","j":"x [REDACTED] y","p":"basic checks passed"}`},
		{"scalars untouched", `[1,true,null,"s"]`, `[1,true,null,"s"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := mask.RedactArgs([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}

	hash, err := NewRedactor(RedactionRules{Mode: RedactHash, Values: []string{`[a-z]+@[a-z.]+`}}, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := hash.RedactArgs([]byte(`{"token":"t1","m":"bob@x.org"}`))
	b, _ := hash.RedactArgs([]byte(`{"token":"t1","m":"bob@x.org"}`))
	c, _ := hash.RedactArgs([]byte(`{"token":"t2","m":"eve@x.org"}`))
	if string(a) != string(b) || string(a) == string(c) || strings.Contains(string(a), "t1") || strings.Contains(string(a), "bob") {
		t.Errorf("hash mode: %s / %s / %s", a, b, c)
	}
	if !strings.Contains(string(a), `"token":"hmac-sha256:`) {
		t.Errorf("hash mode output %s", a)
	}
}

func TestNewRedactorRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rules RedactionRules
		key   []byte
	}{
		"bad mode":          {RedactionRules{Mode: "rot13"}, nil},
		"hash without key":  {RedactionRules{Mode: RedactHash}, nil},
		"short hash key":    {RedactionRules{Mode: RedactHash}, []byte("short")},
		"bad key pattern":   {RedactionRules{Keys: []string{"[a"}}, nil},
		"bad value pattern": {RedactionRules{Values: []string{"(a"}}, nil},
		"relative path":     {RedactionRules{Paths: []string{"input/messages"}}, nil},
		"whole-value path":  {RedactionRules{Paths: []string{""}}, nil},
	} {
		if _, err := NewRedactor(tc.rules, tc.key); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	r, err := NewRedactor(RedactionRules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RedactArgs([]byte(`{"a":`)); err == nil {
		t.Error("RedactArgs accepted invalid JSON")
	}
}

// Secrets never reach the file, wherever the caller put them; invalid and
// oversized args are replaced; SetRedactor applies to later records.
func TestLogRedactsEverywhere(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	dir := t.TempDir()
	l, err := Open(dir, Options{SigningKey: priv, MaxArgsBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
	l.Append(Record{Kind: KindPDPDecision, Reason: "token " + jwt + " rejected", Object: "Bearer abc-123-def",
		Delegation: []string{"alice", jwt}, Args: json.RawMessage(`{"q":"` + jwt + `"}`)})
	l.Append(Record{Kind: KindPDPDecision, Args: json.RawMessage(`{"broken":`)})
	l.Append(Record{Kind: KindPDPDecision, Args: json.RawMessage(`{"long":"` + strings.Repeat("x", 100) + `"}`)})
	l.Append(Record{Kind: KindPDPDecision, Reason: strings.Repeat("é", 3000)})
	r, err := NewRedactor(RedactionRules{Keys: []string{"q"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the writer take the first records under the old rules
	l.SetRedactor(r)
	l.Append(Record{Kind: KindPDPDecision, Args: json.RawMessage(`{"q":"visible before, hidden now"}`)})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, pub); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, dir)
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	for _, rec := range recs {
		line, _ := json.Marshal(rec)
		if strings.Contains(string(line), "eyJhbGci") || strings.Contains(string(line), "abc-123") {
			t.Errorf("credential in record: %s", line)
		}
	}
	if recs[0].Object != "Bearer [REDACTED]" || recs[0].Delegation[1] != Redacted {
		t.Errorf("record 1: %+v", recs[0])
	}
	if string(recs[1].Args) != `"[args removed: not valid JSON]"` {
		t.Errorf("invalid args became %s", recs[1].Args)
	}
	if !strings.HasPrefix(string(recs[2].Args), `"[args removed: 111 bytes`) {
		t.Errorf("oversized args became %s", recs[2].Args)
	}
	if len(recs[3].Reason) > maxStringBytes+20 || !strings.HasSuffix(recs[3].Reason, "[truncated]") {
		t.Errorf("long reason kept %d bytes", len(recs[3].Reason))
	}
	if string(recs[4].Args) != `{"q":"[REDACTED]"}` {
		t.Errorf("SetRedactor not applied: %s", recs[4].Args)
	}
}
