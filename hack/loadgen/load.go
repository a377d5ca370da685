package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// authzenRequest is the AuthZEN 1.0 evaluation request body sent to the PDP,
// and, wrapped as {"input": ...}, to OPA.
type authzenRequest struct {
	Subject  authzenEntity   `json:"subject"`
	Action   authzenAction   `json:"action"`
	Resource authzenEntity   `json:"resource"`
	Context  *authzenContext `json:"context,omitempty"`
}

type authzenEntity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type authzenAction struct {
	Name string `json:"name"`
}

// authzenContext holds only keys the PDP maps into Cedar's context.request.
type authzenContext struct {
	User string `json:"user,omitempty"`
}

func authzenBody(r Request) []byte {
	body := authzenRequest{
		Subject:  authzenEntity{Type: "agent", ID: r.Agent},
		Action:   authzenAction{Name: "call_tool"},
		Resource: authzenEntity{Type: "tool", ID: r.Tool},
	}
	if r.User != "" {
		body.Context = &authzenContext{User: r.User}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // plain strings always marshal
	}
	return b
}

// target is one server under load: where to POST and how to read a decision.
type target struct {
	name      string
	bodies    [][]byte // one per request, same order as the request list
	decode    func([]byte) (bool, error)
	newPoster func() poster // one per worker
	srv       *server
}

func newTarget(name string, srv *server, path string, reqs []Request, wrap func([]byte) []byte, decode func([]byte) (bool, error), client string, concurrency int) (*target, error) {
	bodies := make([][]byte, len(reqs))
	for i, r := range reqs {
		bodies[i] = wrap(authzenBody(r))
	}
	t := &target{name: name, bodies: bodies, decode: decode, srv: srv}
	switch client {
	case "nethttp":
		c := newHTTPClient(concurrency)
		t.newPoster = func() poster { return &netHTTPPoster{client: c, url: srv.baseURL + path} }
	case "raw":
		t.newPoster = func() poster { return newRawPoster(srv.addr, path) }
	default:
		return nil, fmt.Errorf("unknown client %q", client)
	}
	return t, nil
}

// prefixDecision reads a boolean that opens a JSON object as its first
// member, {"<key>":true,... or {"<key>":false..., in a valid document: the
// common shape of both servers' answers, read here without a full decode so
// the load generator leaves more CPU to the servers. ok is false otherwise.
func prefixDecision(b []byte, key string) (v, ok bool) {
	n := len(key) + 4 // {"key":
	if len(b) < n+5 || b[0] != '{' || b[1] != '"' || string(b[2:n-2]) != key || b[n-2] != '"' || b[n-1] != ':' {
		return false, false
	}
	switch rest := b[n:]; {
	case bytes.HasPrefix(rest, []byte("true")) && (rest[4] == ',' || rest[4] == '}'):
		v = true
	case len(rest) > 5 && bytes.HasPrefix(rest, []byte("false")) && (rest[5] == ',' || rest[5] == '}'):
		v = false
	default:
		return false, false
	}
	// A later duplicate of the key would win in encoding/json; leave that
	// to the full decode.
	if bytes.Count(b, []byte(`"`+key+`"`)) != 1 || !json.Valid(b) {
		return false, false
	}
	return v, true
}

func decodePDP(b []byte) (bool, error) {
	if v, ok := prefixDecision(b, "decision"); ok {
		return v, nil
	}
	var r struct {
		Decision *bool `json:"decision"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return false, err
	}
	if r.Decision == nil {
		return false, errors.New(`no "decision" in response`)
	}
	return *r.Decision, nil
}

func wrapOPA(b []byte) []byte {
	out := make([]byte, 0, len(b)+10)
	out = append(out, `{"input":`...)
	out = append(out, b...)
	return append(out, '}')
}

func decodeOPA(b []byte) (bool, error) {
	if v, ok := prefixDecision(b, "result"); ok {
		return v, nil
	}
	var r struct {
		Result *bool `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return false, err
	}
	if r.Result == nil {
		return false, errors.New(`no "result" in response (rule undefined?)`)
	}
	return *r.Result, nil
}

// mismatch is a request whose decision differed from the expected one.
type mismatch struct {
	index  int
	got    bool
	answer string // the server's response body
}

// runResult is what one pass of requests over one server measured.
type runResult struct {
	name       string
	label      string // "warm-up", "round 1", ...
	sent       int
	errors     int
	firstErr   string
	mismatches []mismatch // the first few
	mismatchN  int
	elapsed    time.Duration
	latencies  []time.Duration // of answered requests, sorted
	cpu        time.Duration   // server CPU time during the pass; <0 if unknown
	clientCPU  time.Duration   // this process's CPU time during the pass; <0 if unknown
	incomplete bool            // stopped by the deadline or an interrupt
}

const keepMismatches = 10

// drive sends requests [0, n) of t's bodies with concurrency workers over
// keep-alive connections and checks each decision against reqs[i].Expect.
func drive(ctx context.Context, t *target, reqs []Request, n, concurrency int, label string) runResult {
	n = min(n, len(t.bodies))
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		workers = make([]runResult, concurrency) // merged below; no shared state per request
	)
	cpu0, self0 := processCPU(t.pid()), processCPU(os.Getpid())
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			res := &workers[w]
			res.latencies = make([]time.Duration, 0, n/concurrency+1)
			firstErr := -1
			p := t.newPoster()
			defer p.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				got, answer, err := t.do(ctx, p, t.bodies[i])
				d := time.Since(t0)
				if ctx.Err() != nil {
					break // an interrupted request is not an error of the server
				}
				res.sent++
				switch {
				case err != nil:
					if firstErr < 0 {
						firstErr, res.firstErr = i, fmt.Sprintf("request #%d: %v", i, err)
					}
					res.errors++
				case got != reqs[i].Expect:
					if len(res.mismatches) < keepMismatches {
						res.mismatches = append(res.mismatches, mismatch{index: i, got: got, answer: string(answer)})
					}
					res.mismatchN++
					res.latencies = append(res.latencies, d)
				default:
					res.latencies = append(res.latencies, d)
				}
			}
		})
	}
	wg.Wait()
	res := runResult{name: t.name, label: label, elapsed: time.Since(start), incomplete: ctx.Err() != nil}
	res.cpu = cpuSince(t.pid(), cpu0)
	res.clientCPU = cpuSince(os.Getpid(), self0)
	for _, w := range workers {
		res.sent += w.sent
		res.errors += w.errors
		if res.firstErr == "" {
			res.firstErr = w.firstErr
		}
		res.mismatchN += w.mismatchN
		res.mismatches = append(res.mismatches, w.mismatches...)
		res.latencies = append(res.latencies, w.latencies...)
	}
	slices.SortFunc(res.mismatches, func(a, b mismatch) int { return a.index - b.index })
	res.mismatches = res.mismatches[:min(len(res.mismatches), keepMismatches)]
	sortDurations(res.latencies)
	return res
}

// pid is the server's process id, or -1 when it is not a child (tests).
func (t *target) pid() int {
	if t.srv == nil || t.srv.cmd == nil || t.srv.cmd.Process == nil {
		return -1
	}
	return t.srv.cmd.Process.Pid
}

func cpuSince(pid int, before time.Duration) time.Duration {
	if before < 0 {
		return -1
	}
	now := processCPU(pid)
	if now < 0 {
		return -1
	}
	return now - before
}

// do sends one evaluation and returns the decision and the response body,
// which is valid until the next call with p.
func (t *target) do(ctx context.Context, p poster, body []byte) (bool, []byte, error) {
	status, resp, err := p.post(ctx, body)
	if err != nil {
		return false, nil, err
	}
	if status != http.StatusOK {
		return false, resp, fmt.Errorf("status %d: %.200s", status, resp)
	}
	got, err := t.decode(resp)
	if err != nil {
		return false, resp, fmt.Errorf("decode %.200s: %w", resp, err)
	}
	return got, resp, nil
}
