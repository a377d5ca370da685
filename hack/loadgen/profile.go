package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// fetchProfile asks agentguard's pprof endpoint for a CPU profile of the
// next d and writes it to file; the channel gets the outcome.
func fetchProfile(ctx context.Context, addr string, d time.Duration, file string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
			if err != nil {
				return err
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			return os.WriteFile(file, b, 0o644)
		}()
	}()
	return done
}
