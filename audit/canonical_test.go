package audit

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// Number vectors from RFC 8785 Appendix B, checked against node's
// JSON.stringify.
func TestAppendNumberRFC8785(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
		{"3ff0000000000000", "1"},
		{"3fb999999999999a", "0.1"},
		{"4059000000000000", "100"},
	} {
		raw, err := hex.DecodeString(tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(raw))
		got, err := appendNumber(nil, f)
		if err != nil {
			t.Fatalf("%s: %v", tc.bits, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s (%v): got %s, want %s", tc.bits, f, got, tc.want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendNumber(nil, f); err == nil {
			t.Errorf("%v: no error", f)
		}
	}
}

func TestCanonicalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		// RFC 8785 section 3.2.3: sorting by UTF-16 code units.
		{"utf16 order",
			`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		// RFC 8785 section 3.2.2 example.
		{"rfc example",
			`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{"nested and whitespace", " { \"b\" : [ 1 , { \"d\":1,\"c\":2 } ] , \"a\" : \"x\\ty\" } ", `{"a":"x\ty","b":[1,{"c":2,"d":1}]}`},
		{"control escapes", `"\u0000\u0008\u000c\u001f\u007f<>&"`, "\"\\u0000\\b\\f\\u001f\u007f<>&\""},
		{"scalar", `12.50`, `12.5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Canonicalize([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			again, err := Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("not idempotent: %s, %v", again, err)
			}
		})
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `1e400`, `[1,]`, `nul`} {
		if got, err := Canonicalize([]byte(bad)); err == nil {
			t.Errorf("Canonicalize(%q) = %s, want an error", bad, got)
		}
	}
}

// fullRecord sets every field, with awkward strings.
func fullRecord() Record {
	return Record{
		Version: FormatVersion, Seq: 42, Time: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC),
		Kind: KindPDPDecision, Agent: "team-a/researcher", Instance: "pod-7\x00", Credential: "jti-1",
		OnBehalfOf: "user:ä", Delegation: []string{"alice", "agent-a", "agent-b"},
		Tool: "web.search", Action: "call", Namespace: "team-a", Object: "Tool/web.search",
		Args:     json.RawMessage(`{"q":"x","n":1.5,"nested":{"b":[true,null],"a":"\"quoted\""}}`),
		Decision: DecisionDeny, Reason: "forbid matched\n<tag>", Policies: []string{"p1", "AG-SEC-011"},
		Revision: "rev-1", DecisionID: "d-1", GrantID: "g-1", Event: "approved", Count: 3,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", SessionID: "s-1", TaskID: "t-1",
		Prev: GenesisHash, Hash: "ab" + GenesisHash[2:],
	}
}

// The hand-written record encoder must agree with the generic RFC 8785
// canonicalizer applied to encoding/json's output.
func TestAppendRecordIsCanonical(t *testing.T) {
	t.Parallel()
	r := fullRecord()
	args, err := Canonicalize(r.Args)
	if err != nil {
		t.Fatal(err)
	}
	r.Args = args
	for _, rec := range []Record{r, {Version: 1, Seq: 1, Kind: KindDrop, Prev: GenesisHash, Hash: GenesisHash}} {
		got := appendRecord(nil, &rec, true)
		std, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Canonicalize(std)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("appendRecord:\n got  %s\n want %s", got, want)
		}
	}
	cp := Checkpoint{Version: 1, Seq: 7, Head: GenesisHash, Segment: segmentName(1), Time: r.Time, KeyID: "0011223344556677", Sig: "c2ln"}
	got := appendCheckpoint(nil, &cp, true)
	std, _ := json.Marshal(cp)
	want, err := Canonicalize(std)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("appendCheckpoint:\n got  %s\n want %s", got, want)
	}
}

func TestSealAndParseRecord(t *testing.T) {
	t.Parallel()
	r := fullRecord()
	r.Args, _ = Canonicalize(r.Args)
	line := sealRecord(nil, &r)
	got, err := ParseRecord(line)
	if err != nil {
		t.Fatalf("ParseRecord: %v\n%s", err, line)
	}
	if got.Hash != r.Hash || got.Seq != r.Seq || got.Reason != r.Reason || string(got.Args) != string(r.Args) {
		t.Errorf("round trip lost data: %+v", got)
	}

	for _, tc := range []struct {
		name    string
		mutate  func(string) string
		wantErr error
	}{
		{"edited field", func(s string) string { return replaceOnce(s, `"decision":"deny"`, `"decision":"allow"`) }, ErrHashMismatch},
		{"extra whitespace", func(s string) string { return replaceOnce(s, `"decision":"deny"`, `"decision": "deny"`) }, ErrMalformed},
		{"unknown member", func(s string) string { return replaceOnce(s, `{`, `{"admin":true,`) }, ErrMalformed},
		{"time with offset", func(s string) string {
			return replaceOnce(s, `"2026-11-27T10:00:00.123456789Z"`, `"2026-11-27T11:00:00.123456789+01:00"`)
		}, ErrMalformed},
		{"upper-case hash", func(s string) string { return replaceOnce(s, r.Hash, strings.ToUpper(r.Hash)) }, ErrMalformed},
		{"other version", func(s string) string { return replaceOnce(s, `"v":1`, `"v":2`) }, ErrMalformed},
		{"not json", func(string) string { return "hello" }, ErrMalformed},
		{"two objects", func(s string) string { return s + s }, ErrMalformed},
		{"seq zero", func(s string) string { return replaceOnce(s, `"seq":42`, `"seq":0`) }, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.mutate(string(line[:len(line)-1]))
			if _, err := ParseRecord([]byte(in)); !errorsIs(err, tc.wantErr) {
				t.Errorf("ParseRecord(%s) = %v, want %v", in, err, tc.wantErr)
			}
		})
	}
}

// A record whose hash member comes first is sealed correctly too.
func TestSealMinimalRecord(t *testing.T) {
	t.Parallel()
	r := Record{Version: FormatVersion, Seq: 1, Kind: KindAdmission, Prev: GenesisHash, Time: time.Unix(0, 0)}
	line := sealRecord([]byte("prefix"), &r)
	got, err := ParseRecord(line[len("prefix"):])
	if err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if got.Hash != r.Hash || string(line[:len("prefix")+8]) != `prefix{"hash":` {
		t.Errorf("line %s", line)
	}
}
