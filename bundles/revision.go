package bundles

import (
	"strconv"
	"strings"
)

// CompareRevisions orders bundle revisions naturally: the strings are split
// into runs of digits and runs of other bytes; digit runs compare as
// numbers, others byte-wise. So "9" < "10", "2026.11.27-2" < "2026.11.27-10"
// and "v1.9.0" < "v1.10.0". It returns -1, 0 or +1.
func CompareRevisions(a, b string) int {
	for a != "" && b != "" {
		ca, ra := chunk(a)
		cb, rb := chunk(b)
		if c := compareChunk(ca, cb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	default:
		return 1
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func chunk(s string) (string, string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

func compareChunk(a, b string) int {
	if isDigit(a[0]) && isDigit(b[0]) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

// semver is a parsed MAJOR.MINOR.PATCH version (a leading "v" and any
// pre-release or build suffix are ignored).
type semver [3]int

func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return semver{}, false
	}
	var v semver
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" {
			return semver{}, false
		}
		v[i] = n
	}
	return v, true
}

// versionAtLeast reports whether the running version satisfies min. A
// running version that is not a release ("dev", a commit hash) satisfies
// every minimum: development builds are built from the newest source.
func versionAtLeast(running, min string) bool {
	if min == "" {
		return true
	}
	r, ok := parseSemver(running)
	if !ok {
		return true
	}
	m, _ := parseSemver(min)
	for i := range r {
		if r[i] != m[i] {
			return r[i] > m[i]
		}
	}
	return true
}
