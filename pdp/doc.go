// Package pdp is agentguard's policy decision point engine: it loads the
// Cedar part of a bundle (schema, policies, entities, AuthZEN mapping),
// validates all of it against the schema in strict mode, and answers
// authorization requests with a Decision that names the policies that
// determined it.
//
// cedar-go evaluates every policy on every request. The Engine keeps a scope
// index (principal/action/resource ==, in, is) and hands cedar.Authorize
// only the policies whose scope can match, so decision time depends on the
// number of candidate policies, not on the size of the bundle.
package pdp
