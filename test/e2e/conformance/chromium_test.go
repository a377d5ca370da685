package conformance

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// renderDOM loads a report in headless Chromium and returns the DOM after
// its scripts ran.
func renderDOM(t *testing.T, page string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install it with `make chromium` (Debian package chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+page)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	return out.String()
}

// checkRendered requires the report's summary and the filter script's
// count in the rendered DOM.
func checkRendered(t *testing.T, dir string, total int) {
	t.Helper()
	dom := renderDOM(t, filepath.Join(dir, "report.html"))
	for _, want := range []string{"agentguard conformance report", "controls: PASS ", "of " + strconv.Itoa(total) + " controls"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered report lacks %q", want)
		}
	}
}
