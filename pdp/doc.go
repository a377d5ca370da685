// Package pdp is agentguard's policy decision point engine: it loads the
// Cedar part of a bundle (schema, policies, entities, AuthZEN mapping),
// validates all of it against the schema in strict mode, and answers
// authorization requests with a Decision that names the policies that
// determined it.
//
// cedar-go evaluates every policy on every request. The Engine keeps a scope
// index (principal/action/resource ==, in, is), matches each candidate's
// scope exactly and hands cedar.Authorize only the bodies of the policies
// whose scope holds, so decision time depends on the number of matching
// policies, not on the size of the bundle, and Cedar does not check a
// scope the index already has.
package pdp
