package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentguard/agentguard/internal/testenv"
	"github.com/agentguard/agentguard/pdp/grants"
)

// shared is a kube-apiserver and etcd with the AgentGrant CRD installed,
// started by the first test that needs it and stopped by TestMain.
var shared testenv.Shared

var crdDir = filepath.Join("..", "..", "..", "config", "crd")

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the store does not.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// newEnv returns an envtest environment (not started) with the CRDs.
func newEnv(t *testing.T) *envtest.Environment {
	t.Helper()
	return testenv.Environment(t, crdDir)
}

// cluster returns the shared cluster's config.
func cluster(t *testing.T) *rest.Config {
	t.Helper()
	return shared.Start(t, crdDir)
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
