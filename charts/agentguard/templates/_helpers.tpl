{{/* Chart name. */}}
{{- define "agentguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix. */}}
{{- define "agentguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agentguard.webhookName" -}}{{ include "agentguard.fullname" . }}-webhook{{- end }}
{{- define "agentguard.pdpName" -}}{{ include "agentguard.fullname" . }}-pdp{{- end }}
{{- define "agentguard.webhookCertSecret" -}}{{ include "agentguard.fullname" . }}-webhook-tls{{- end }}
{{- define "agentguard.pdpCertSecret" -}}
{{- if .Values.pdp.tls.existingSecret }}{{ .Values.pdp.tls.existingSecret }}{{ else }}{{ include "agentguard.fullname" . }}-pdp-tls{{ end }}
{{- end }}
{{- define "agentguard.grantKeySecret" -}}
{{- if .Values.pdp.grantSigningKey.existingSecret }}{{ .Values.pdp.grantSigningKey.existingSecret }}{{ else }}{{ include "agentguard.fullname" . }}-grant-signing-key{{ end }}
{{- end }}

{{/* Common labels. */}}
{{- define "agentguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "agentguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentguard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels. */}}
{{- define "agentguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Component labels: call with (dict "root" $ "component" "webhook"). */}}
{{- define "agentguard.componentLabels" -}}
{{ include "agentguard.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agentguard.componentSelector" -}}
{{ include "agentguard.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image reference: digest wins over tag. */}}
{{- define "agentguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces the webhooks never see. */}}
{{- define "agentguard.exemptNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- range .Values.webhook.exemptNamespaces }}{{ $ns = append $ns . }}{{ end }}
{{- toJson (uniq $ns) }}
{{- end }}

{{/* Bundle flags shared by both servers; fails closed without a trust anchor. */}}
{{- define "agentguard.bundleArgs" -}}
{{- $b := .Values.bundle }}
{{- if not $b.source }}
{{- fail "bundle.source is required: oci://..., https://... or a path in the container (see docs/install.md)" }}
{{- end }}
{{- if and (not $b.insecureSkipVerify) (not $b.publicKeys) }}
{{- fail "bundle.publicKeys is required to verify bundle signatures; bundle.insecureSkipVerify=true turns verification off (not for production)" }}
{{- end }}
- --bundle={{ $b.source }}
{{- range $i, $_ := $b.publicKeys }}
- --bundle-pubkey=/etc/agentguard/bundle-keys/key-{{ $i }}.pem
{{- end }}
{{- if $b.insecureSkipVerify }}
- --insecure-skip-bundle-verify
{{- end }}
{{- with $b.minRevision }}
- --bundle-min-revision={{ . }}
{{- end }}
- --bundle-poll-interval={{ $b.pollInterval }}
- --data-dir=/var/lib/agentguard
- --log-format={{ .Values.logFormat }}
{{- end }}

{{/* Pod-level security context: Pod Security Standards "restricted". */}}
{{- define "agentguard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "agentguard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Environment shared by both servers. */}}
{{- define "agentguard.env" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- $mib := 0 }}
{{- $lim := toString (dig "limits" "memory" "" .values.resources) }}
{{- if regexMatch "^[0-9]+Gi$" $lim }}{{ $mib = mul (trimSuffix "Gi" $lim | int) 1024 }}{{ end }}
{{- if regexMatch "^[0-9]+Mi$" $lim }}{{ $mib = trimSuffix "Mi" $lim | int }}{{ end }}
{{- if gt (int $mib) 0 }}
# The Go heap's soft limit at 85% of the memory limit: the GC works harder
# before the container would be OOM-killed, with room for stacks and buffers.
- name: GOMEMLIMIT
  value: {{ printf "%dMiB" (div (mul $mib 85) 100) | quote }}
{{- end }}
{{- with .root.Values.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $.root.Values.otlp.protocol | quote }}
- name: OTEL_SERVICE_NAME
  value: agentguard-{{ $.component }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount token, projected with a bounded lifetime
     (automountServiceAccountToken is off; the path is where client-go looks). */}}
{{- define "agentguard.tokenVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end }}

{{- define "agentguard.tokenMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}

{{/* Scheduling: spread replicas over nodes and zones. */}}
{{- define "agentguard.scheduling" -}}
{{- $sel := include "agentguard.componentSelector" . | fromYaml }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ .root.Values.topologySpread.hostname }}
    labelSelector:
      matchLabels: {{- toYaml $sel | nindent 8 }}
    matchLabelKeys: ["pod-template-hash"]
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ .root.Values.topologySpread.zone }}
    labelSelector:
      matchLabels: {{- toYaml $sel | nindent 8 }}
    matchLabelKeys: ["pod-template-hash"]
{{- with .values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Volumes shared by both servers. */}}
{{- define "agentguard.commonVolumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataVolume.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.bundle.publicKeys }}
- name: bundle-keys
  configMap:
    name: {{ include "agentguard.fullname" . }}-bundle-keys
{{- end }}
{{ include "agentguard.tokenVolume" . }}
{{- end }}

{{- define "agentguard.commonMounts" -}}
- name: data
  mountPath: /var/lib/agentguard
- name: tmp
  mountPath: /tmp
{{- if .Values.bundle.publicKeys }}
- name: bundle-keys
  mountPath: /etc/agentguard/bundle-keys
  readOnly: true
{{- end }}
{{ include "agentguard.tokenMount" . }}
{{- end }}
