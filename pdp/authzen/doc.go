// Package authzen serves the PDP over the OpenID AuthZEN Authorization API
// 1.0 (shared/specs/authorization-api-1_0.md): the Access Evaluation API
// (POST /access/v1/evaluation), the Access Evaluations API
// (POST /access/v1/evaluations, with defaults and the three
// evaluations_semantic values) and PDP metadata
// (GET /.well-known/authzen-configuration), plus /healthz, /readyz and
// /metrics.
//
// Bad input is answered with a 4xx and a JSON body naming the problem:
// malformed JSON or a missing or mistyped field, an unknown subject,
// resource or action type, or a request the schema refuses → 400; a body
// over the limit → 413; a content type other than application/json → 415;
// a wrong method → 405. A denial is a 200 with "decision": false.
package authzen
