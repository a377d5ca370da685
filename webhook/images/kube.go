package images

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterSecrets is a SecretReader over the Kubernetes API. The webhook's
// ServiceAccount needs get on secrets and serviceaccounts in the namespaces
// of the pods it verifies (for imagePullSecrets) and of key secretRefs.
type ClusterSecrets struct {
	client kubernetes.Interface
}

// NewClusterSecrets returns a SecretReader over client.
func NewClusterSecrets(client kubernetes.Interface) *ClusterSecrets {
	return &ClusterSecrets{client: client}
}

var _ SecretReader = (*ClusterSecrets)(nil)

// Secret implements SecretReader.
func (c *ClusterSecrets) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s, err := c.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, ErrNotFound)
	}
	return s, err
}

// ServiceAccount implements SecretReader.
func (c *ClusterSecrets) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := c.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("service account %s/%s: %w", namespace, name, ErrNotFound)
	}
	return sa, err
}
