package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentguard/agentguard/pdp/grants"
)

// The shared cluster: a kube-apiserver and etcd with the AgentGrant CRD
// installed, started by the first test that needs it and stopped by
// TestMain.
var shared struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the store does not.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// newEnv returns an envtest environment with the checked-in CRDs. The
// binaries come from KUBEBUILDER_ASSETS, which `make test` sets.
func newEnv(t *testing.T) *envtest.Environment {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: build kube-apiserver and etcd with `make envtest-bins` and run the tests with `make test` " +
			"(or export KUBEBUILDER_ASSETS=$PWD/bin/k8s)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS=%s has no %s (run `make envtest-bins`): %v", assets, bin, err)
		}
	}
	return &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "..", "config", "crd")},
		ErrorIfCRDPathMissing:    true,
	}
}

// cluster returns the shared cluster's config.
func cluster(t *testing.T) *rest.Config {
	t.Helper()
	env := newEnv(t)
	shared.once.Do(func() {
		shared.cfg, shared.err = env.Start()
		if shared.err == nil {
			shared.env = env
		}
	})
	if shared.err != nil {
		t.Fatalf("start envtest: %v", shared.err)
	}
	return rest.CopyConfig(shared.cfg)
}

// namespace creates a fresh namespace, so each test's store starts empty.
func namespace(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "grants-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newStore returns a store on cfg in namespace ns.
func newStore(t *testing.T, cfg *rest.Config, ns string) *Store {
	t.Helper()
	s, err := New(Options{Config: cfg, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// watchInto runs s.Watch until the test ends, sending what it sees to the
// returned channel.
func watchInto(t *testing.T, s grants.Store) <-chan *grants.Request {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan *grants.Request, 256)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(r *grants.Request) { seen <- r }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return seen
}

// waitFor reads ch until ok holds, failing after 20s.
func waitFor(t *testing.T, ch <-chan *grants.Request, what string, ok func(*grants.Request) bool) *grants.Request {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r := <-ch:
			if ok(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("watch: %s not seen", what)
			return nil
		}
	}
}
