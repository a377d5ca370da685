package authn_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/agentguard/agentguard/pdp/authn"
)

// A PDP in standalone mode: dev tokens from a static token file, which
// holds only their hashes.
func ExampleMiddleware() {
	token := "dev-token-triage" // minted with authn.NewToken in real use
	file := fmt.Sprintf("- sha256: %s\n  principal: {type: Agent, id: acme-agents/triage}\n", authn.HashToken(token))
	static, err := authn.ParseStaticTokens([]byte(file))
	if err != nil {
		panic(err)
	}
	h := authn.Middleware(static, authn.HTTPOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := authn.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", id.Principal)
	}))

	for _, auth := range []string{"", "Bearer " + token, "Bearer wrong"} {
		r := httptest.NewRequest(http.MethodPost, "/access/v1/evaluation", nil)
		r.Header.Set("X-Request-ID", "req-1") // errors name it (one is made when the caller sends none)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	// Output:
	// 401 Bearer realm="agentguard" {"error":"authentication required","status":401,"request_id":"req-1"}
	//
	// 200  hello Agent::"acme-agents/triage"
	// 401 Bearer realm="agentguard", error="invalid_token", error_description="the credential is invalid, expired or not for this audience" {"error":"invalid credentials","status":401,"request_id":"req-1"}
}

// In a cluster: ServiceAccount tokens via TokenReview, or SPIFFE SVIDs over
// mTLS, whichever the caller presents.
func ExampleChain() {
	var (
		tokens authn.Authenticator // authn.NewTokenReview(authn.TokenReviewOptions{Client: cs.AuthenticationV1().TokenReviews(), Audience: "agentguard-pdp"})
		svids  authn.Authenticator // authn.NewSPIFFE(authn.SPIFFEOptions{TrustDomain: td, Bundle: bundle})
	)
	_ = authn.Middleware(authn.Chain(svids, tokens), authn.HTTPOptions{})
}
