# Example custom admission rule: agent images must be pinned to a tag other
# than "latest" (or to a digest). Rules live in package agentguard.admission
# and add {"id": ..., "msg": ...} objects to the deny set; input is described
# in docs/admission.md. The mode of AG-CUSTOM-001 is set in config.yaml.
#
# Iterating input.pod.spec.containers directly (rather than through a helper
# set) lets agentguard convert only the fields the rule reads (name, image).
package agentguard.admission

deny contains {"id": "AG-CUSTOM-001", "msg": unpinned_msg(c.name, c.image)} if {
	input.isAgent
	some c in input.pod.spec.containers
	not pinned(c.image)
}

deny contains {"id": "AG-CUSTOM-001", "msg": unpinned_msg(c.name, c.image)} if {
	input.isAgent
	some c in input.pod.spec.initContainers
	not pinned(c.image)
}

unpinned_msg(name, image) := sprintf("container %q uses image %q without a version tag or digest; fix: pin it to a release tag or @sha256 digest", [name, image])

pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	not endswith(last, ":latest")
}
