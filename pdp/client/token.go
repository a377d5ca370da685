package client

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"
)

// TokenSource returns the bearer token for the next call.
type TokenSource interface {
	Token() (string, error)
}

// StaticToken is a fixed token.
type StaticToken string

// Token returns the token.
func (s StaticToken) Token() (string, error) { return string(s), nil }

// FileToken reads a token from a file and reads it again when the file
// changes: a projected ServiceAccount token, which the kubelet rotates by
// replacing the file.
type FileToken struct {
	Path string
	// CheckEvery bounds how often the file's metadata is checked. Default
	// 10s.
	CheckEvery time.Duration

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
	checked time.Time
}

// Token returns the current token from the file.
func (f *FileToken) Token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	every := f.CheckEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	now := time.Now()
	if f.token != "" && now.Sub(f.checked) < every {
		return f.token, nil
	}
	f.checked = now
	st, err := os.Stat(f.Path)
	if err != nil {
		if f.token != "" {
			return f.token, nil // mid-rotation: keep the last token
		}
		return "", fmt.Errorf("token file: %w", err)
	}
	if f.token != "" && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.token, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := string(bytes.TrimSpace(data))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", f.Path)
	}
	f.token, f.modTime, f.size = tok, st.ModTime(), st.Size()
	return tok, nil
}
