{{- define "web4ai.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "web4ai.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: web4ai
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "web4ai.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "web4ai.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "web4ai.adminKeySecret" -}}
{{- .Values.adminKey.existingSecret | default (printf "%s-admin-key" (include "web4ai.fullname" .)) -}}
{{- end -}}

{{/* The address the processes listen on: every address in a pod network; the pod's own
address (the node's) with hostNetwork, so host-network pods on nodes of different
addresses never take each other's ports. */}}
{{- define "web4ai.bindHost" -}}
{{- if .Values.hostNetwork -}}$(POD_IP){{- else -}}0.0.0.0{{- end -}}
{{- end -}}

{{- define "web4ai.podNetwork" -}}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end -}}

{{/* With hostNetwork a replica takes its ports on its node: a surge pod could never be
scheduled beside the old one, so a rollout replaces one pod at a time instead. */}}
{{- define "web4ai.strategy" -}}
strategy:
  type: RollingUpdate
  rollingUpdate: {maxSurge: 0, maxUnavailable: 1}
{{- end -}}
