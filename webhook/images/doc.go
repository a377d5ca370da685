// Package images verifies container image signatures for admission
// (AG-GEN-004) and resolves tags to digests so that the admitted image is the
// verified one.
//
// A [Policy] is the compiled admission/images.yaml of a bundle: which images
// need signatures from which authorities (public keys, or keyless Sigstore
// identities checked against a trusted root shipped in the bundle). A
// [Verifier] checks images against a Policy. It always verifies by digest and
// binds each signature to that digest (the "claim" check), understands both
// signature formats in use today (cosign's classic ".sig" tag with a
// simple-signing payload, and the Sigstore bundle stored as an OCI 1.1
// referrer), fetches each signature artifact once and tries every authority
// on it locally, and caches verdicts by (digest, policy revision) so that the
// admission hot path makes no registry round trip.
//
// The package does not log; it returns verdicts with reasons.
package images
