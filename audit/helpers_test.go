package audit

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func replaceOnce(s, old, repl string) string {
	if !strings.Contains(s, old) {
		panic("replaceOnce: " + old + " not in " + s)
	}
	return strings.Replace(s, old, repl, 1)
}

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}
