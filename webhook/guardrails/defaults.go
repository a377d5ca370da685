package guardrails

import corev1 "k8s.io/api/core/v1"

// DefaultPodSpec applies the kube-apiserver's defaulting that changes a
// guardrail verdict, for objects that never went through an API server
// (offline evaluation): a volume without a source is an emptyDir
// (SetDefaults_Volume in k8s.io/kubernetes/pkg/apis/core/v1). Objects in an
// AdmissionReview are already defaulted.
func DefaultPodSpec(spec *corev1.PodSpec) {
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.VolumeSource == (corev1.VolumeSource{}) {
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
}
