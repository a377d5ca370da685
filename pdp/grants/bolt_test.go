package grants_test

import (
	"path/filepath"
	"testing"

	"github.com/agentguard/agentguard/pdp/grants"
	"github.com/agentguard/agentguard/pdp/grants/storetest"
)

func TestBoltStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) grants.Store {
		s, err := grants.OpenBolt(filepath.Join(t.TempDir(), "grants.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
