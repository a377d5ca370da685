package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzKey is fixed so that fuzz inputs can carry valid signatures.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func seedLines(f *testing.F) (rec, cp []byte) {
	r := fullRecord()
	r.Args, _ = Canonicalize(r.Args)
	rec = sealRecord(nil, &r)
	c := Checkpoint{Seq: 42, Head: r.Hash, Segment: segmentName(1), Time: time.Unix(1, 0)}
	cp = signCheckpoint(&c, fuzzKey)
	return rec, cp
}

func FuzzParseRecord(f *testing.F) {
	rec, cp := seedLines(f)
	f.Add(rec)
	f.Add(cp)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"seq":1,"kind":"drop","prev":"` + GenesisHash + `","hash":"` + GenesisHash + `","time":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		// Whatever parses is canonical and re-seals to the same line.
		again := r
		out := sealRecord(nil, &again)
		if !bytes.Equal(bytes.TrimSuffix(out, []byte{'\n'}), bytes.TrimSuffix(line, []byte{'\n'})) {
			t.Fatalf("parsed %q but re-encodes as %q", line, out)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	rec, cp := seedLines(f)
	f.Add(cp)
	f.Add(rec)
	f.Add([]byte(`{"v":1}`))
	pub, _ := fuzzKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseCheckpoint(line)
		if err != nil {
			return
		}
		if got := appendCheckpoint(nil, &c, true); !bytes.Equal(got, bytes.TrimSuffix(line, []byte{'\n'})) {
			t.Fatalf("parsed %q but re-encodes as %q", line, got)
		}
		_ = c.Verify(pub) // must not panic
	})
}

// FuzzCanonicalize checks the streaming canonicalizer and redactor against
// the tree-based reference built on encoding/json.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1.5e3,"x\u0000",null]}`, `"\ud83d\ude00"`, `"\ud800\u0041"`, `1e-7`, `{"\u20ac":1,"\r":2}`, `[]`,
		`{"a":1,"a":2}`, `{"token":{"x":[1,2]},"h":{"k":"Bearer abcdefghijklmnopqrstuvw"},"m":"a@b.c 4111"}`,
		"\"\xff\xfe\"", `-0.0`, `01`, `[1,]`, `{"a" : 1 }`, `"\/"`,
	} {
		f.Add([]byte(s))
	}
	mask, err := NewRedactor(RedactionRules{Paths: []string{"/h/*", "/0"}, Keys: []string{"b"}, Values: []string{"[0-9]+", "@"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	hash, err := NewRedactor(RedactionRules{Mode: RedactHash, Paths: []string{"/a"}, Values: []string{"x+"}}, []byte("0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, r := range []*Redactor{nil, mask, hash} {
			got, err := canonicalJSON(in, r)
			want, rerr := refCanonicalize(in, r)
			if (err == nil) != (rerr == nil) {
				t.Fatalf("redactor %v: %q: fast error %v, reference error %v", r != nil, in, err, rerr)
			}
			if err != nil {
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("redactor %v: %q:\n fast      %q\n reference %q", r != nil, in, got, want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid output %q", got)
			}
			if r == nil {
				if again, err := Canonicalize(got); err != nil || !bytes.Equal(again, got) {
					t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
				}
			}
		}
	})
}

// FuzzSegment feeds arbitrary segment content to Verify, Open and a
// Cursor: bad files give errors, never panics, and Open never resumes on a
// segment that Verify rejects inside the sealed part.
func FuzzSegment(f *testing.F) {
	rec, _ := seedLines(f)
	r := Record{Version: 1, Seq: 1, Kind: KindDrop, Prev: GenesisHash, Time: time.Unix(5, 0).UTC()}
	good := sealRecord(nil, &r)
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), good...))
	f.Add(rec)
	f.Add(good[:len(good)-5])
	f.Add([]byte("\n\n"))
	pub, _ := fuzzKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		genesis := Checkpoint{Head: GenesisHash, Time: time.Unix(1, 0)}
		if err := os.WriteFile(filepath.Join(dir, CheckpointFile), signCheckpoint(&genesis, fuzzKey), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, verr := Verify(dir, pub)
		if c, err := OpenCursor(dir, 0); err == nil {
			for range 100 {
				if _, _, err := c.Next(); err != nil {
					break
				}
			}
			_ = c.Close()
		}
		l, err := Open(dir, Options{SigningKey: fuzzKey})
		if err != nil {
			return
		}
		l.Append(Record{Kind: KindAdmission})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// Nothing was sealed but the genesis, so Open may repair anything;
		// afterwards the log must verify.
		if _, err := Verify(dir, pub); err != nil {
			t.Fatalf("log does not verify after Open repaired it (before: %v): %v", verr, err)
		}
	})
}
