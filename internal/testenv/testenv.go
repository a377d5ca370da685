// Package testenv starts the real kube-apiserver and etcd that agentguard's
// tests run against (controller-runtime's envtest), from the binaries
// `make envtest-bins` builds and `make test` names in KUBEBUILDER_ASSETS.
package testenv

import (
	"os"
	"path/filepath"
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

// Start starts a kube-apiserver and etcd with the CRDs in crdDirs
// installed, and stops them when the test ends.
func Start(t testing.TB, crdDirs ...string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    Assets(t),
		ControlPlaneStartTimeout: 2 * time.Minute,
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    len(crdDirs) > 0,
	}
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
