package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// grantNamespace holds the AgentGrant resources.
const grantNamespace = "agentguard"

// cluster is the envtest kube-apiserver + etcd, reached by the replicas
// through proxy (whose kubeconfig is at kubeconfig).
type cluster struct {
	env        *envtest.Environment
	cfg        *rest.Config
	proxy      *tcpProxy
	kubeconfig string
}

func startCluster(ctx context.Context, assets, crdDir, dir string) (*cluster, error) {
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run `make envtest-bins` and export KUBEBUILDER_ASSETS=$PWD/bin/k8s (make test and make chaos-pdp set it)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s has no %s (run `make envtest-bins`): %w", assets, bin, err)
		}
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{crdDir},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  5 * time.Second,
	}
	// Keep the control plane's files in our temp dir, which is removed
	// however the run ends.
	env.ControlPlane.GetAPIServer().CertDir = filepath.Join(dir, "apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(dir, "etcd")}
	for _, d := range []string{env.ControlPlane.APIServer.CertDir, env.ControlPlane.Etcd.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start kube-apiserver + etcd: %w", err)
	}
	c := &cluster{env: env, cfg: cfg}
	if err := c.setup(ctx, dir); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) setup(ctx context.Context, dir string) error {
	cs, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: grantNamespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", grantNamespace, err)
	}
	u, err := url.Parse(c.cfg.Host)
	if err != nil {
		return fmt.Errorf("apiserver address %q: %w", c.cfg.Host, err)
	}
	if c.proxy, err = newTCPProxy(u.Host); err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: "https://" + c.proxy.addr, CertificateAuthorityData: c.cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.cfg.CertData, ClientKeyData: c.cfg.KeyData, Token: c.cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	return clientcmd.WriteToFile(*kc, c.kubeconfig)
}

func (c *cluster) stop() {
	if c.proxy != nil {
		_ = c.proxy.Close()
	}
	_ = c.env.Stop()
}
