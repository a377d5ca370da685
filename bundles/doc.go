// Package bundles is agentguard's policy bundle: the one artifact cluster
// admins write, test, sign and ship, and that every agentguard server
// activates atomically.
//
// A bundle is a directory or a deterministic .tar.gz holding
//
//	.manifest          name, revision, created, roots, minimum agentguard version (JSON)
//	admission/         config.yaml, *.rego (the admission webhook's part)
//	pdp/               *.cedarschema, *.cedar, entities.json, mapping.yaml (the PDP's part)
//	tests/             *.json (AuthZEN cases) and admission/*.yaml (admission cases)
//	.signatures.json   a JWS (ES256 or Ed25519) over the SHA-256 of every other file
//
// The layout follows OPA's bundles (.manifest, .signatures.json). [Read]
// and [ReadArchive] load a bundle and refuse unsafe input (path traversal,
// links, oversized or over-compressed archives); [Sign] and [Verifier] sign
// and verify it, failing closed and naming the file at fault; [WriteArchive]
// writes a byte-for-byte reproducible archive; [OpenSource] fetches bundles
// from a directory, a file, an https:// URL or an oci:// reference; and
// [Manager] keeps the newest verified bundle active, persisting it as the
// last-known-good bundle for restarts while the source is down.
//
// Validation of the policies themselves (Cedar, Rego, configs) and the
// bundle's test cases live in the subpackage check, so that servers that
// only verify and activate do not depend on the validators. See
// docs/bundles.md.
package bundles
