package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentguard/agentguard/audit"
)

// tampering edits the lines of a copy of the first segment file.
type tampering struct {
	name string
	// min is the number of records it needs.
	min  int
	edit func(lines [][]byte, foreign []byte, unsealed int) [][]byte
}

var tamperings = []tampering{
	{"change a field of the first record", 1, func(l [][]byte, _ []byte, _ int) [][]byte {
		l[0] = changeField(l[0])
		return l
	}},
	{"delete the second record", 3, func(l [][]byte, _ []byte, _ int) [][]byte { return slices.Delete(l, 1, 2) }},
	{"swap the first two records", 2, func(l [][]byte, _ []byte, _ int) [][]byte { l[0], l[1] = l[1], l[0]; return l }},
	{"insert a record written under another key", 1, func(l [][]byte, foreign []byte, _ int) [][]byte {
		return slices.Insert(l, 1, foreign)
	}},
	// Records after the last checkpoint are vouched for by the chain only,
	// so the cut reaches one record into the sealed part.
	{"truncate the tail (drop every unsealed record and the last sealed one)", 1, func(l [][]byte, _ []byte, unsealed int) [][]byte {
		return l[:max(0, len(l)-unsealed-1)]
	}},
}

// changeField alters one string value of a JSON record line.
func changeField(line []byte) []byte {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		out := slices.Clone(line)
		out[len(out)/2] ^= 1
		return out
	}
	for _, k := range []string{"agent", "tool", "decision", "reason", "kind"} {
		if v, ok := m[k].(string); ok {
			m[k] = v + "-tampered"
			b, _ := json.Marshal(m)
			return b
		}
	}
	out := slices.Clone(line)
	out[len(out)/2] ^= 1
	return out
}

func checkDecisionLog(_ context.Context, s *session, r *record) {
	dl := s.profile.DecisionLog
	if dl.Dir == "" || dl.PublicKeyFile == "" {
		r.manual("no decision log given (--audit-dir DIR --audit-pubkey FILE, or decisionLog in the profile)")
		return
	}
	keyPEM, err := os.ReadFile(dl.PublicKeyFile)
	if err != nil {
		r.errorf("read the decision-log public key: %v", err)
		return
	}
	pub, err := audit.ParsePublicKey(keyPEM)
	if err != nil {
		r.errorf("parse the decision-log public key %s: %v", dl.PublicKeyFile, err)
		return
	}
	rep, err := audit.Verify(dl.Dir, pub)
	req := fmt.Sprintf("audit.Verify(%s, key %s)", dl.Dir, audit.KeyID(pub))
	if err != nil {
		if errors.Is(err, audit.ErrTampered) {
			r.finding("the decision log fails verification", req, err.Error())
		} else {
			r.errorf("verify %s: %v", dl.Dir, err)
		}
		return
	}
	r.ok(fmt.Sprintf("the decision log verifies: %d records, %d sealed by %d signed checkpoints", rep.Records, rep.SealedSeq, rep.Checkpoints), req, toJSON(rep))
	if rep.Records == 0 {
		r.skip("tampering detection (the log has no records)")
		return
	}
	if rep.Unsealed > 0 {
		r.info(fmt.Sprintf("%d records after the last checkpoint are chained but not yet signed: until the next checkpoint, dropping them from the tail cannot be detected without an external anchor (audit verify --anchor)", rep.Unsealed), "", "")
	}
	foreign, err := foreignRecord()
	if err != nil {
		r.errorf("write a record under another key: %v", err)
		return
	}
	for _, t := range tamperings {
		s.tamper(r, dl.Dir, pub, t, foreign, int(min(rep.Unsealed, math.MaxInt32)))
	}
	r.skip("verification of the production log over the whole audit window, if the given directory is a copy")
}

// foreignRecord writes one record to a scratch log under a fresh key.
func foreignRecord() ([]byte, error) {
	dir, err := os.MkdirTemp("", "agconf-foreign-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	_, priv, err := audit.GenerateKey()
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(dir, audit.Options{SigningKey: priv})
	if err != nil {
		return nil, err
	}
	l.Append(audit.Record{Kind: audit.KindPDPDecision, Agent: "forged", Tool: "forged", Action: "call_tool", Decision: audit.DecisionAllow, Reason: "forged"})
	if err := l.Close(); err != nil {
		return nil, err
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.jsonl"))
	if len(segs) == 0 {
		return nil, errors.New("scratch log wrote no segment")
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		return nil, err
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	return first, nil
}

// tamper applies t to a copy of the log and expects Verify to fail.
func (s *session) tamper(r *record, dir string, pub []byte, t tampering, foreign []byte, unsealed int) {
	tmp, err := os.MkdirTemp("", "agconf-log-")
	if err != nil {
		r.errorf("%v", err)
		return
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.errorf("read %s: %v", dir, err)
		return
	}
	var segs []string
	for _, e := range entries {
		if e.IsDir() || (!strings.HasSuffix(e.Name(), ".jsonl")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			r.errorf("%v", err)
			return
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o600); err != nil { //nolint:gosec // a file name read from the log directory, written into the suite's scratch copy
			r.errorf("%v", err)
			return
		}
		if strings.HasPrefix(e.Name(), "seg-") {
			segs = append(segs, e.Name())
		}
	}
	if len(segs) == 0 {
		r.errorf("no segment files in %s", dir)
		return
	}
	slices.Sort(segs)
	target := segs[0]
	if strings.HasPrefix(t.name, "truncate") {
		target = segs[len(segs)-1]
	}
	path := filepath.Join(tmp, target)
	data, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if strings.HasPrefix(t.name, "truncate") && len(lines) <= unsealed {
		r.info(fmt.Sprintf("tampering %q skipped: the last segment holds only unsealed records", t.name), "", "")
		return
	}
	if len(lines) < t.min {
		r.info(fmt.Sprintf("tampering %q skipped: segment %s has %d records, needs %d", t.name, target, len(lines), t.min), "", "")
		return
	}
	lines = t.edit(lines, foreign, unsealed)
	out := append(bytes.Join(lines, []byte("\n")), '\n')
	if len(lines) == 0 {
		out = nil
	}
	if err := os.WriteFile(path, out, 0o600); err != nil { //nolint:gosec // path is a segment of the suite's own scratch copy
		r.errorf("%v", err)
		return
	}
	_, err = audit.Verify(tmp, pub)
	req := "on a copy: " + t.name + " in " + target
	if errors.Is(err, audit.ErrTampered) {
		r.ok("tampering detected: "+t.name, req, err.Error())
	} else {
		r.finding("tampering not detected: "+t.name, req, fmt.Sprintf("verify: %v", err))
	}
}
