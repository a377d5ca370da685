package chart

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises, since no Docker engine is
// at hand to build it: a static, trimmed build, a distroless non-root final
// stage and the OCI provenance labels AG-GEN-005 asks agents for.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	froms := regexp.MustCompile(`(?m)^FROM[ \t]+(?:--\S+[ \t]+)*(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(froms))
	}
	if final := froms[len(froms)-1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("final stage %q: want a distroless static nonroot base", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "USER 65532:65532", "./cmd/agentguard"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, key := range []string{"source", "version", "revision", "created", "licenses", "authors"} {
		if !strings.Contains(df, "org.opencontainers.image."+key+"=") {
			t.Errorf("Dockerfile lacks the OCI label org.opencontainers.image.%s", key)
		}
	}
	// The build context keeps what the Dockerfile copies.
	ignore, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"go.mod", "go.sum", "cmd/", "policies/"} {
		if !strings.Contains(string(ignore), "!"+dir) {
			t.Errorf(".dockerignore does not keep %s", dir)
		}
	}
}
