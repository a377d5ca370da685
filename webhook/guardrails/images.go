package guardrails

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// checkRegistries implements AG-GEN-003: every image (containers of all
// kinds and OCI image volumes) comes from an allowed registry.
func checkRegistries(ev *evaluation) {
	const id = "AG-GEN-003"
	allowed := ev.e.cfg.AllowedRegistries
	if len(allowed) == 0 {
		return
	}
	fix := "use an image from " + strings.Join(allowed, ", ") + " (admission/config.yaml allowedRegistries)"
	forEachContainer(ev.in.PodSpec, func(kind string, c *corev1.Container) {
		if !imageAllowed(c.Image, allowed) {
			ev.add(id, "%s %q uses image %q from a registry that is not allowed; fix: %s", kind, c.Name, c.Image, fix)
		}
	})
	for _, v := range ev.in.PodSpec.Volumes {
		if v.Image != nil && !imageAllowed(v.Image.Reference, allowed) {
			ev.add(id, "image volume %q uses image %q from a registry that is not allowed; fix: %s", v.Name, v.Image.Reference, fix)
		}
	}
}

// NormalizeImage returns the fully qualified repository path of an image
// reference: "busybox" is "docker.io/library/busybox", "acme/app:1" is
// "docker.io/acme/app:1".
func NormalizeImage(image string) string {
	first, rest, found := strings.Cut(image, "/")
	if !found {
		return "docker.io/library/" + image
	}
	if first == "localhost" || strings.ContainsAny(first, ".:") {
		return image
	}
	return "docker.io/" + first + "/" + rest
}

// imageAllowed reports whether image is under one of the allowed registries
// or repository prefixes. "registry.corp.example" allows
// "registry.corp.example/x" but not "registry.corp.example.evil.com/x".
func imageAllowed(image string, allowed []string) bool {
	if image == "" {
		return false
	}
	full := NormalizeImage(image)
	for _, a := range allowed {
		a = strings.TrimSuffix(a, "/")
		if !strings.HasPrefix(full, a) {
			continue
		}
		rest := full[len(a):]
		switch {
		case rest == "" || rest[0] == '/':
			return true
		case (rest[0] == ':' || rest[0] == '@') && strings.Contains(a, "/"):
			// A tag or digest of an allowed repository. After a bare host,
			// ":" would start a port: another registry.
			return true
		}
	}
	return false
}
