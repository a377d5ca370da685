{{- /* The pod and workload rules: the same for both webhooks. */}}
{{- define "agentguard.workloadRules" -}}
- operations: ["CREATE", "UPDATE"]
  apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods", "pods/ephemeralcontainers"]
  scope: Namespaced
- operations: ["CREATE", "UPDATE"]
  apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
  scope: Namespaced
- operations: ["CREATE", "UPDATE"]
  apiGroups: ["batch"]
  apiVersions: ["v1"]
  resources: ["jobs", "cronjobs"]
  scope: Namespaced
{{- end }}

{{- /* Selects objects that carry the agent label, or carried it before an
       update (pods, pod templates, CronJob job templates). */}}
{{- define "agentguard.agentLabelCondition" -}}
- name: agent-labelled
  expression: >-
    [object, request.operation == 'UPDATE' ? oldObject : object].exists(o, o != null && (
      (has(o.metadata.labels) && 'agentguard.io/agent' in o.metadata.labels) ||
      (has(o.spec) && has(o.spec.template) && has(o.spec.template.metadata) && has(o.spec.template.metadata.labels) &&
        'agentguard.io/agent' in o.spec.template.metadata.labels) ||
      (has(o.spec) && has(o.spec.jobTemplate) && has(o.spec.jobTemplate.spec) && has(o.spec.jobTemplate.spec.template) &&
        has(o.spec.jobTemplate.spec.template.metadata) && has(o.spec.jobTemplate.spec.template.metadata.labels) &&
        'agentguard.io/agent' in o.spec.jobTemplate.spec.template.metadata.labels)))
{{- end }}

{{- define "agentguard.clientConfig" -}}
clientConfig:
  service:
    name: {{ include "agentguard.webhookName" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
{{- end }}

{{- define "agentguard.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ .Values.webhook.failurePolicy }}
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
{{- end }}

{{/* Namespaces are sent only when created with the tenant label or when an
       update sets, changes or removes it (webhook.scope agents; with scope
       cluster every namespace write is sent, e.g. for custom Rego rules). */}}
{{- define "agentguard.namespaceCondition" -}}
- name: tenant-label-set-or-changed
  expression: >-
    request.operation == 'CREATE' ?
      has(object.metadata.labels) && 'agentguard.io/tenant' in object.metadata.labels :
      (has(object.metadata.labels) && 'agentguard.io/tenant' in object.metadata.labels ? object.metadata.labels['agentguard.io/tenant'] : '') !=
      (has(oldObject.metadata.labels) && 'agentguard.io/tenant' in oldObject.metadata.labels ? oldObject.metadata.labels['agentguard.io/tenant'] : '')
{{- end }}
