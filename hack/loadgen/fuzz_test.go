package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzPrefixDecision checks the fast path of the decoders against a full
// decode: whenever it answers, encoding/json must agree.
func FuzzPrefixDecision(f *testing.F) {
	for _, s := range []string{
		`{"decision":true}`, `{"decision":false,"context":{"id":"x"}}`, `{"result":true}`,
		`{"decision":true,"decision":false}`, `{"decision":true,`, `{"decision":truex}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, key := range []string{"decision", "result"} {
			v, ok := prefixDecision(b, key)
			if !ok {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("fast path accepted %q, full decode: %v", b, err)
			}
			var full bool
			if err := json.Unmarshal(m[key], &full); err != nil || full != v {
				t.Fatalf("fast path read %v from %q, full decode %v (%v)", v, b, full, err)
			}
		}
	})
}

// FuzzReadResponse feeds arbitrary bytes to the raw client's response
// reader: it must return an error or a body, never panic or over-read.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntrue",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 99999999\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &rawPoster{br: bufio.NewReader(bytes.NewReader(b))}
		_, _, err := p.readResponse()
		if err == nil && len(p.resp) > len(b) {
			t.Fatalf("body of %d bytes from %d bytes of input", len(p.resp), len(b))
		}
	})
}
