package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// segLines is a segment file as lines (without newlines).
type segLines struct {
	name  string
	lines []string
}

// editLines rewrites the segment files of dir through fn, which may
// change, drop or rename them.
func editLines(t *testing.T, dir string, fn func([]segLines)) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []segLines
	for _, s := range segs {
		b, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		if len(b) > 0 {
			lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
		all = append(all, segLines{name: s.name, lines: lines})
		if err := os.Remove(filepath.Join(dir, s.name)); err != nil {
			t.Fatal(err)
		}
	}
	fn(all)
	for _, s := range all {
		if s.name == "" {
			continue
		}
		var b strings.Builder
		for _, l := range s.lines {
			b.WriteString(l + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func editCheckpoints(t *testing.T, dir string, fn func([]string) []string) {
	t.Helper()
	path := filepath.Join(dir, CheckpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := fn(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rechain renumbers, relinks and rehashes every record from the start, as
// an attacker with write access but without the signing key would after
// inserting or deleting records, and renames the segments to match.
func rechain(t *testing.T, segs []segLines) {
	t.Helper()
	prev, seq := GenesisHash, uint64(0)
	for i := range segs {
		for j, line := range segs[i].lines {
			r, err := ParseRecord([]byte(line))
			if err != nil && !errors.Is(err, ErrHashMismatch) {
				t.Fatal(err)
			}
			if err != nil { // edited: take the content anyway
				r = mustDecode(t, line)
			}
			seq++
			r.Seq, r.Prev = seq, prev
			out := sealRecord(nil, &r)
			segs[i].lines[j] = string(out[:len(out)-1])
			prev = r.Hash
			if j == 0 {
				segs[i].name = segmentName(seq)
			}
		}
	}
}

func mustDecode(t *testing.T, line string) Record {
	t.Helper()
	var r Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// forgeRecord seals a record the attacker wants to slip in.
func forgeRecord(t *testing.T) string {
	t.Helper()
	r := decision(1000)
	r.Version, r.Seq, r.Prev = FormatVersion, 1, GenesisHash
	r.Args = nil
	r.Time = r.Time.UTC()
	line := sealRecord(nil, &r)
	return string(line[:len(line)-1])
}

// tamperLog is the log every tampering case starts from: 40 records in
// segments of at most 4 KiB, a checkpoint every 5 records.
func tamperLog(t *testing.T, dir string, priv ed25519.PrivateKey) {
	t.Helper()
	l, err := Open(dir, Options{SigningKey: priv, SegmentBytes: 4 << 10, CheckpointEvery: 5, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if !l.Append(decision(i)) {
			t.Fatal("Append refused")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// locate returns the segment index and line index of record seq.
func locate(segs []segLines, seq uint64) (int, int) {
	for i := len(segs) - 1; i >= 0; i-- {
		first, _ := parseSegmentName(segs[i].name)
		if first <= seq {
			return i, int(seq - first) //nolint:gosec // small
		}
	}
	return -1, -1
}

// The AG-SEC-011 tamper matrix: each tampering of a copy of the log is
// detected and reported at the right place.
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	_, otherKey := testKey(t)
	orig := t.TempDir()
	tamperLog(t, orig, priv)

	rep, err := Verify(orig, pub)
	if err != nil {
		t.Fatalf("the original does not verify: %v", err)
	}
	if rep.Records != 40 || rep.SealedSeq != 40 || rep.Segments < 3 {
		t.Fatalf("original: %+v", rep)
	}

	// sealedBefore is the last checkpoint before record seq; checkpoints
	// fall every 5 records and at each rotation.
	cf, err := readCheckpoints(orig)
	if err != nil {
		t.Fatal(err)
	}
	sealedBefore := func(seq uint64) uint64 {
		var last uint64
		for _, cp := range cf.cps {
			if cp.Seq < seq {
				last = cp.Seq
			}
		}
		return last
	}

	type want struct {
		seq      uint64 // exact first bad record, or
		min, max uint64 // a range for rewrites between checkpoints
		file     string // "" means the segment holding seq; CheckpointFile for checkpoint problems
		is       error
		contains string
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   want
	}{
		{"edited record", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 12)
				s[i].lines[j] = replaceOnce(s[i].lines[j], `"reason":"policy matched"`, `"reason":"policy edited"`)
			})
		}, want{seq: 12, is: ErrHashMismatch, contains: "edited"}},
		{"edited and rehashed record", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 12)
				r, err := ParseRecord([]byte(s[i].lines[j]))
				if err != nil {
					t.Fatal(err)
				}
				r.Reason = "edited"
				out := sealRecord(nil, &r)
				s[i].lines[j] = string(out[:len(out)-1])
			})
		}, want{seq: 13, contains: "does not link to record 12"}},
		{"deleted record", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 12)
				s[i].lines = append(s[i].lines[:j], s[i].lines[j+1:]...)
			})
		}, want{seq: 12, contains: "record 12 is missing"}},
		{"reordered records", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 12)
				s[i].lines[j], s[i].lines[j+1] = s[i].lines[j+1], s[i].lines[j]
			})
		}, want{seq: 12, contains: "reordered"}},
		{"inserted forged record", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 12)
				s[i].lines = append(s[i].lines[:j], append([]string{forgeRecord(t)}, s[i].lines[j:]...)...)
			})
		}, want{seq: 12, contains: "where record 12 belongs"}},
		{"inserted forged record with a recomputed chain", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 13)
				s[i].lines = append(s[i].lines[:j], append([]string{forgeRecord(t)}, s[i].lines[j:]...)...)
				rechain(t, s)
			})
		}, want{min: sealedBefore(13) + 1, max: 13, contains: "rewritten"}},
		{"deleted record with a recomputed chain", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 22)
				s[i].lines = append(s[i].lines[:j], s[i].lines[j+1:]...)
				rechain(t, s)
			})
		}, want{min: sealedBefore(22) + 1, max: 22, contains: "rewritten"}},
		{"truncated tail", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				last := &s[len(s)-1]
				last.lines = last.lines[:len(last.lines)-3]
			})
		}, want{seq: 38, contains: "truncated"}},
		{"last segment removed", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) { s[len(s)-1].name = "" })
		}, want{min: 20, max: 40, contains: "truncated"}},
		{"middle segment removed", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) { s[1].name = "" })
		}, want{min: 2, max: 39, contains: "missing"}},
		{"checkpoint signed with another key", func(t *testing.T, dir string) {
			editCheckpoints(t, dir, func(l []string) []string {
				cp, err := ParseCheckpoint([]byte(l[len(l)-1]))
				if err != nil {
					t.Fatal(err)
				}
				l[len(l)-1] = strings.TrimSuffix(string(signCheckpoint(&cp, otherKey)), "\n")
				return l
			})
		}, want{file: CheckpointFile, is: ErrWrongKey}},
		{"checkpoint edited", func(t *testing.T, dir string) {
			editCheckpoints(t, dir, func(l []string) []string {
				cp, err := ParseCheckpoint([]byte(l[3]))
				if err != nil {
					t.Fatal(err)
				}
				l[3] = replaceOnce(l[3], cp.Head, strings.Repeat("a", 64))
				return l
			})
		}, want{file: CheckpointFile, is: ErrBadSignature}},
		{"checkpoint forged under our key id", func(t *testing.T, dir string) {
			editCheckpoints(t, dir, func(l []string) []string {
				cp, err := ParseCheckpoint([]byte(l[len(l)-1]))
				if err != nil {
					t.Fatal(err)
				}
				id := cp.KeyID
				cp.Seq += 10
				signCheckpoint(&cp, otherKey)
				cp.KeyID = id
				l[len(l)-1] = string(appendCheckpoint(nil, &cp, true))
				return l
			})
		}, want{file: CheckpointFile, is: ErrBadSignature}},
		{"whole log rewritten and re-signed with another key", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 3)
				s[i].lines[j] = replaceOnce(s[i].lines[j], `"reason":"policy matched"`, `"reason":"policy edited"`)
				rechain(t, s)
			})
			editCheckpoints(t, dir, func(l []string) []string {
				cp := Checkpoint{Seq: 40, Head: strings.Repeat("b", 64), Segment: segmentName(1), Time: rep.LastTime}
				return []string{strings.TrimSuffix(string(signCheckpoint(&cp, otherKey)), "\n")}
			})
		}, want{file: CheckpointFile, is: ErrWrongKey}},
		{"checkpoints removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, CheckpointFile)); err != nil {
				t.Fatal(err)
			}
		}, want{file: CheckpointFile, contains: "missing"}},
		{"checkpoints reordered", func(t *testing.T, dir string) {
			editCheckpoints(t, dir, func(l []string) []string {
				l[2], l[3] = l[3], l[2]
				return l
			})
		}, want{file: CheckpointFile, contains: "reordered"}},
		{"garbage line", func(t *testing.T, dir string) {
			editLines(t, dir, func(s []segLines) {
				i, j := locate(s, 7)
				s[i].lines[j] = "not a record"
			})
		}, want{seq: 7, is: ErrMalformed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			copyDir(t, orig, dir)
			tc.tamper(t, dir)
			_, err := Verify(dir, pub)
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			w := tc.want
			switch {
			case w.file == CheckpointFile:
				if ve.File != CheckpointFile {
					t.Errorf("file %s, want %s (%v)", ve.File, CheckpointFile, err)
				}
			case w.seq != 0:
				if ve.Seq != w.seq {
					t.Errorf("first bad record %d, want %d (%v)", ve.Seq, w.seq, err)
				}
				segs, _ := listSegments(dir)
				var wantFile string
				for _, s := range segs {
					if s.first <= w.seq {
						wantFile = s.name
					}
				}
				if ve.File != wantFile {
					t.Errorf("file %s, want %s (%v)", ve.File, wantFile, err)
				}
				if ve.Line == 0 && !strings.Contains(tc.name, "truncated") {
					t.Errorf("no line number (%v)", err)
				}
			default:
				if ve.Seq < w.min || ve.Seq > w.max {
					t.Errorf("first bad record %d, want within [%d, %d] (%v)", ve.Seq, w.min, w.max, err)
				}
			}
			if w.is != nil && !errors.Is(err, w.is) {
				t.Errorf("error %v, want %v", err, w.is)
			}
			if w.contains != "" && !strings.Contains(err.Error(), w.contains) {
				t.Errorf("error %q does not say %q", err, w.contains)
			}
		})
	}

	t.Run("wrong public key", func(t *testing.T) {
		t.Parallel()
		otherPub, _ := testKey(t)
		if _, err := Verify(orig, otherPub); !errors.Is(err, ErrWrongKey) {
			t.Errorf("Verify with another key = %v, want ErrWrongKey", err)
		}
		if _, err := Verify(orig, pub[:5]); err == nil || errors.Is(err, ErrTampered) {
			t.Errorf("Verify with a short key = %v, want a key error", err)
		}
		if _, err := Verify(filepath.Join(orig, "nope"), pub); err == nil {
			t.Error("Verify of a missing directory succeeded")
		}
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// An anchor kept elsewhere catches a log cut back together with its
// checkpoint file, which the directory alone cannot show.
func TestVerifyAnchors(t *testing.T) {
	t.Parallel()
	pub, priv := testKey(t)
	_, other := testKey(t)
	orig := t.TempDir()
	tamperLog(t, orig, priv)
	cf, err := readCheckpoints(orig)
	if err != nil {
		t.Fatal(err)
	}
	anchor := cf.cps[len(cf.cps)-1]
	if _, err := VerifyWith(orig, pub, VerifyOptions{Anchors: []Checkpoint{anchor, cf.cps[2]}}); err != nil {
		t.Fatalf("original with anchors: %v", err)
	}

	dir := t.TempDir()
	copyDir(t, orig, dir)
	editLines(t, dir, func(s []segLines) {
		last := &s[len(s)-1]
		last.lines = last.lines[:len(last.lines)-3]
	})
	editCheckpoints(t, dir, func(l []string) []string { return l[:3] })
	if _, err := Verify(dir, pub); err != nil {
		t.Fatalf("without an anchor the cut-back log verifies (that is the point): %v", err)
	}
	_, err = VerifyWith(dir, pub, VerifyOptions{Anchors: []Checkpoint{anchor}})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Seq != 38 || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "anchor") {
		t.Errorf("with the anchor: %v, want truncation at record 38", err)
	}

	forged := anchor
	signCheckpoint(&forged, other)
	if _, err := VerifyWith(orig, pub, VerifyOptions{Anchors: []Checkpoint{forged}}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("anchor signed by another key: %v, want ErrWrongKey", err)
	}
	differs := anchor
	differs.Head = strings.Repeat("c", 64)
	signCheckpoint(&differs, priv)
	if _, err := VerifyWith(orig, pub, VerifyOptions{Anchors: []Checkpoint{differs}}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "differs from the anchor") {
		t.Errorf("anchor that disagrees: %v", err)
	}
}
