// Package authn tells the PDP who is calling. It authenticates the caller of
// an HTTP request from a credential the platform issued, never from anything
// the caller merely names (AG-CC-012), and returns an [Identity] whose
// Principal is the Cedar entity the PDP evaluates as.
//
// Three [Authenticator]s are provided, and [Chain] combines them:
//
//   - [TokenReview]: Kubernetes ServiceAccount tokens sent as
//     `Authorization: Bearer`, validated by the kube-apiserver's TokenReview
//     API with the PDP's own audience required. By default a token must be
//     bound to a pod; it yields the pod's name and UID, and the apiserver
//     refuses it once its pod is gone (AG-SEC-007). Results are cached by the
//     SHA-256 of the token until the earlier of the token's expiry and a
//     short TTL (30s by default), so a stolen token dies with its pod within
//     that TTL plus the apiserver's own 10s cache; refusals are cached
//     briefly too. The principal of `system:serviceaccount:<ns>:<sa>` is
//     `Agent::"<ns>/<sa>"`.
//   - [SPIFFE]: mutual TLS with SPIFFE X.509-SVIDs. The peer's certificate
//     chain is verified against the trust bundle by the authenticator itself,
//     not only at the handshake (a verified chain is remembered for up to a
//     minute, never past its expiry), the SPIFFE ID comes from its URI SAN,
//     and only the configured trust domain is accepted. [ServerTLSConfig] builds the
//     matching server tls.Config. `spiffe://<td>/ns/<ns>/sa/<sa>` maps to
//     `Agent::"<ns>/<sa>"`; any other SPIFFE ID is the id of an Agent itself.
//   - [StaticTokens]: a YAML file of SHA-256 token hashes for standalone and
//     development use; tokens themselves are never stored. [HashToken] and
//     [NewToken] mint and hash such tokens.
//
// Errors are classified for the HTTP boundary by two sentinels:
// [ErrUnauthenticated] (401: no credential, or one that does not prove an
// identity) and [ErrUnavailable] (503 with Retry-After: the authority that
// would decide, such as the apiserver, could not be asked). A down apiserver
// never looks like a bad token and never lets a request through.
// [Middleware] maps them to responses (RFC 6750 §3 `WWW-Authenticate`
// challenge, JSON error body) and stores the Identity in the request
// context, where [FromContext] finds it.
//
// Tokens never appear in errors: errors name the credential by kind only.
//
// # Deployment
//
// The PDP's ServiceAccount needs `create` on `tokenreviews` (for example the
// built-in ClusterRole `system:auth-delegator`). Agents send a projected
// ServiceAccount token whose audience is the PDP's (the Options' Audience),
// not the apiserver's, so a token stolen from the PDP's traffic cannot be
// replayed against the apiserver and vice versa.
package authn
