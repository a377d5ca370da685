// Package imagebench compares agentguard's image verification with cosign's
// own verify API (github.com/sigstore/cosign/v2 pkg/cosign) on the same
// images in the same in-process registry. It is a separate module so that
// cosign's dependencies stay out of agentguard's go.mod.
//
//	cd hack/imagebench && go test -run '^$' -bench . -benchtime 200x
package imagebench
