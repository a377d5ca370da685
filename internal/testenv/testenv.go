// Package testenv starts the real kube-apiserver and etcd that agentguard's
// tests run against (controller-runtime's envtest), from the binaries
// `make envtest-bins` builds and `make test` names in KUBEBUILDER_ASSETS.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Assets returns KUBEBUILDER_ASSETS after checking that it holds
// kube-apiserver and etcd; without them the test fails with a message
// naming the make target, never skips.
func Assets(t testing.TB) string {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: build kube-apiserver and etcd with `make envtest-bins` and run the tests with `make test` " +
			"(or export KUBEBUILDER_ASSETS=$PWD/bin/k8s)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil { //nolint:gosec // the developer names this directory
			t.Fatalf("KUBEBUILDER_ASSETS=%s has no %s (run `make envtest-bins`): %v", assets, bin, err)
		}
	}
	return assets
}

// Environment returns an envtest environment (not started) for the
// binaries in KUBEBUILDER_ASSETS with the CRDs in crdDirs.
func Environment(t testing.TB, crdDirs ...string) *envtest.Environment {
	t.Helper()
	return &envtest.Environment{
		BinaryAssetsDirectory:    Assets(t),
		ControlPlaneStartTimeout: 2 * time.Minute,
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    len(crdDirs) > 0,
	}
}

// Start starts a kube-apiserver and etcd with the CRDs in crdDirs
// installed, and stops them when the test ends.
func Start(t testing.TB, crdDirs ...string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := Environment(t, crdDirs...)
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver + etcd (envtest): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop envtest: %v", err)
		}
	})
	return env, cfg
}

// Shared is a kube-apiserver + etcd that a whole test package shares:
// started by the first test that needs it, stopped by TestMain with Stop.
// Unit tests in the package never wait for it.
type Shared struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

// Start starts the shared control plane with the CRDs in crdDirs on first
// use and returns a copy of its admin config.
func (s *Shared) Start(t testing.TB, crdDirs ...string) *rest.Config {
	t.Helper()
	env := Environment(t, crdDirs...)
	s.once.Do(func() {
		if s.cfg, s.err = env.Start(); s.err == nil {
			s.env = env
		}
	})
	if s.err != nil {
		t.Fatalf("start kube-apiserver + etcd (envtest): %v", s.err)
	}
	return rest.CopyConfig(s.cfg)
}

// Env is the started environment (for AddUser and the like); nil before
// Start.
func (s *Shared) Env() *envtest.Environment { return s.env }

// Stop stops the control plane if it was started; call it from TestMain.
func (s *Shared) Stop() error {
	if s.env == nil {
		return nil
	}
	return s.env.Stop()
}
