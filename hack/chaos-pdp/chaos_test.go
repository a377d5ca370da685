package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChaosShort runs the short form against real processes (`make test`
// sets KUBEBUILDER_ASSETS): it fails on any unsafe allow, any call blocked
// past its deadline and any fallback record lost.
func TestChaosShort(t *testing.T) {
	cfg := defaultConfig(true)
	cfg.Assets = os.Getenv("KUBEBUILDER_ASSETS")
	if cfg.Assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make envtest-bins` and the tests with `make test` (or export KUBEBUILDER_ASSETS=$PWD/bin/k8s)")
	}
	cfg.Root = "../.."
	var out bytes.Buffer
	start := time.Now()
	rep, err := run(t.Context(), cfg, &out)
	t.Logf("chaos-pdp -short in %s:\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("requirements failed: %s", strings.Join(rep.failures, "; "))
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"max", ms(3, 9, 1), 1, 9 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 4", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func TestStallWithin(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	s := &stallMonitor{stalls: []stall{{at(100), at(200)}, {at(500), at(550)}}}
	for _, tc := range []struct {
		from, to int
		want     time.Duration
	}{
		{0, 50, 0},
		{0, 1000, 150 * time.Millisecond},
		{150, 520, 70 * time.Millisecond},
		{200, 500, 0},
	} {
		if got := s.within(at(tc.from), at(tc.to)); got != tc.want {
			t.Errorf("within(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// The proxy forwards while up; down refuses new connections and drops
// open ones; up serves on the same address again.
func TestProxyDownUp(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer func() { _ = c.Close() }(); _, _ = io.Copy(c, c) }()
		}
	}()
	p, err := newTCPProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	roundTrip := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	open, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = open.Close() }()
	if err := roundTrip(open); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Down()
	if err := roundTrip(open); err == nil {
		t.Error("an open connection survived Down")
	}
	if c, err := net.Dial("tcp", p.addr); err == nil {
		_ = c.Close()
		t.Error("dial succeeded while down")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	again, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = again.Close() }()
	if err := roundTrip(again); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}
