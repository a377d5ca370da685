// Package certrotator keeps a webhook's TLS material current without
// cert-manager: a self-managed CA and serving certificate kept in one Secret,
// written to the directory the webhook server reads (and reloads), and the
// CA bundle patched into the named webhook configurations.
//
// It does what github.com/open-policy-agent/cert-controller's rotator does,
// with narrower permissions: it reads and updates named objects only (get
// and update on one Secret and on the webhook configurations by name), so it
// needs no list or watch on Secrets or on every webhook configuration. It
// never creates a webhook configuration: after an uninstall has deleted them
// they stay deleted.
//
// Rotation overlaps: a new CA is added to the CA bundle while the previous
// one is still trusted, so replicas that still serve a certificate signed by
// the previous CA keep working until they pick up the new one.
package certrotator
