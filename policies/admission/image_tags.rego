# Example custom admission rule: agent images must be pinned to a tag other
# than "latest" (or to a digest). Rules live in package agentguard.admission
# and add {"id": ..., "msg": ...} objects to the deny set; input is described
# in docs/admission.md. The mode of AG-CUSTOM-001 is set in config.yaml.
package agentguard.admission

containers contains c if {
	some c in input.pod.spec.containers
}

containers contains c if {
	some c in input.pod.spec.initContainers
}

deny contains {"id": "AG-CUSTOM-001", "msg": msg} if {
	input.isAgent
	some c in containers
	not pinned(c.image)
	msg := sprintf("container %q uses image %q without a version tag or digest; fix: pin it to a release tag or @sha256 digest", [c.name, c.image])
}

pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	not endswith(last, ":latest")
}
