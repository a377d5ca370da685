package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentguard/agentguard/audit"
)

// auditFixture creates a key pair with `audit keygen` and a log of six
// records written with it.
func auditFixture(t *testing.T) (dir, pubPath string) {
	t.Helper()
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "audit")
	out, err := runCLI(t, "audit", "keygen", "--out", prefix)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "audit", "keygen", "--out", prefix); exitCode(err) != 2 {
		t.Errorf("keygen over existing files: exit %d, want 2", exitCode(err))
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", fi, err)
	}
	keyPEM, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := audit.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(tmp, "log")
	l, err := audit.Open(dir, audit.Options{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		d := audit.DecisionAllow
		if i%2 == 1 {
			d = audit.DecisionDeny
		}
		l.Append(audit.Record{
			Kind: audit.KindPDPDecision, Time: t0.Add(time.Duration(i) * time.Minute),
			Agent: fmt.Sprintf("team-%c/bot", 'a'+i%2), Tool: []string{"web.search", "shell"}[i%2],
			Decision: d, Reason: "because", Policies: []string{"p"}, DecisionID: fmt.Sprintf("d-%d", i),
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, prefix + ".pub"
}

func TestAuditVerifyCLI(t *testing.T) {
	dir, pub := auditFixture(t)

	out, err := runCLI(t, "audit", "verify", dir, "--pubkey", pub, "--require-sealed")
	if err != nil || !strings.Contains(out, "OK: 6 records in 1 segments") || !strings.Contains(out, "0 unsealed") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "verify", dir, "--pubkey", pub, "-o", "json")
	var res struct {
		OK     bool
		Report audit.Report
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.OK || res.Report.Records != 6 {
		t.Fatalf("verify -o json: %v\n%s", err, out)
	}

	// An anchor: the checkpoints as they are now.
	anchor := filepath.Join(t.TempDir(), "anchor.jsonl")
	cps, err := os.ReadFile(filepath.Join(dir, audit.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(anchor, cps, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "audit", "verify", dir, "--pubkey", pub, "--anchor", anchor); err != nil {
		t.Errorf("verify --anchor: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "audit", "verify", dir, "--pubkey", pub, "--anchor", pub); exitCode(err) != 2 {
		t.Errorf("verify --anchor with a non-checkpoint file: exit %d, want 2", exitCode(err))
	}

	// Inline key, in hex.
	pemData, _ := os.ReadFile(pub)
	key, err := audit.ParsePublicKey(pemData)
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf("%x", []byte(key))
	if out, err := runCLI(t, "audit", "verify", dir, "--pubkey", raw); err != nil {
		t.Errorf("verify with an inline hex key: %v\n%s", err, out)
	}

	// Tampered: exit 1, naming the segment and the record.
	seg := filepath.Join(dir, "seg-00000000000000000001.jsonl")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, []byte(strings.Replace(string(b), `"decision_id":"d-3"`, `"decision_id":"d-9"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "audit", "verify", dir, "--pubkey", pub)
	if exitCode(err) != 1 || !strings.Contains(out, "FAILED: seg-00000000000000000001.jsonl line 4 (record 4)") {
		t.Errorf("verify of a tampered log: exit %d\n%s", exitCode(err), out)
	}
	if out, err := runCLI(t, "audit", "query", dir); exitCode(err) != 1 {
		t.Errorf("query over a damaged record: exit %d\n%s", exitCode(err), out)
	}

	otherDir := t.TempDir()
	if out, err := runCLI(t, "audit", "keygen", "--out", filepath.Join(otherDir, "k")); err != nil {
		t.Fatal(err, out)
	}
	for name, args := range map[string][]string{
		"no pubkey":     {"audit", "verify", dir},
		"bad pubkey":    {"audit", "verify", dir, "--pubkey", "not-a-key"},
		"missing dir":   {"audit", "verify", filepath.Join(dir, "nope"), "--pubkey", pub},
		"bad output":    {"audit", "verify", dir, "--pubkey", pub, "-o", "yaml"},
		"keygen no out": {"audit", "keygen"},
	} {
		if _, err := runCLI(t, args...); exitCode(err) != 2 {
			t.Errorf("%s: exit %d, want 2 (%v)", name, exitCode(err), err)
		}
	}
	if out, err := runCLI(t, "audit", "verify", dir, "--pubkey", filepath.Join(otherDir, "k.pub")); exitCode(err) != 1 || !strings.Contains(out, "another key") {
		t.Errorf("verify with another key: exit %d\n%s", exitCode(err), out)
	}
}

func TestAuditQueryAndTailCLI(t *testing.T) {
	dir, _ := auditFixture(t)
	for _, tc := range []struct {
		args []string
		want []string // decision ids, in order
	}{
		{[]string{"--decision", "deny"}, []string{"d-1", "d-3", "d-5"}},
		{[]string{"--agent", "team-a/*"}, []string{"d-0", "d-2", "d-4"}},
		{[]string{"--tool", "shell", "--limit", "2"}, []string{"d-1", "d-3"}},
		{[]string{"--since", "2026-11-27T10:02:00Z", "--until", "2026-11-27T10:04:00Z"}, []string{"d-2", "d-3"}},
		{[]string{"--kind", "admission"}, nil},
		{[]string{"--since", "1h"}, nil}, // the fixture is in the past... of the session's now
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runCLI(t, append([]string{"audit", "query", dir, "-o", "json"}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var r audit.Record
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				got = append(got, r.DecisionID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := runCLI(t, "audit", "query", dir, "--since", "yesterday"); exitCode(err) != 2 {
		t.Errorf("bad --since: exit %d, want 2", exitCode(err))
	}
	if _, err := runCLI(t, "audit", "query", dir, "--agent", "[a"); exitCode(err) != 2 {
		t.Errorf("bad --agent pattern: exit %d, want 2", exitCode(err))
	}

	out, err := runCLI(t, "audit", "tail", dir, "-n", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.Contains(lines[0], "#5 pdp_decision decision=allow agent=team-a/bot tool=web.search") ||
		!strings.Contains(lines[1], "#6 ") || !strings.Contains(lines[1], `reason="because"`) {
		t.Errorf("tail -n 2: %v\n%s", err, out)
	}
}
