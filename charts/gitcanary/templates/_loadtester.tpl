{{/* Name of the load tester's Deployment and Service. */}}
{{- define "gitcanary.loadtester.fullname" -}}
{{- if .Values.loadtester.fullnameOverride }}
{{- .Values.loadtester.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-loadtester" (include "gitcanary.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels of the load tester Pods: a name of their own, so the controller's Service
and PodDisruptionBudget never select them. */}}
{{- define "gitcanary.loadtester.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-loadtester" (include "gitcanary.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gitcanary.loadtester.labels" -}}
helm.sh/chart: {{ include "gitcanary.chart" . }}
{{ include "gitcanary.loadtester.selectorLabels" . }}
app.kubernetes.io/component: loadtester
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitcanary
{{- end }}

{{/* The arguments of the load tester container. */}}
{{- define "gitcanary.loadtester.args" -}}
{{- $l := .Values.loadtester }}
{{- $args := list "loadtester" (printf "--port=%s" (include "gitcanary.scalar" $l.port)) "--state-dir=/var/lib/gitcanary-loadtester" }}
{{- range $flag := list
      (list "timeout" $l.timeout)
      (list "max-output" $l.maxOutputBytes)
      (list "allow-command" $l.allowCommands)
      (list "namespace-regexp" $l.namespaceRegexp)
      (list "cmd-shell" $l.cmdShell)
}}
{{- $args = concat $args (include "gitcanary.flagArgs" $flag | fromJsonArray) }}
{{- end }}
{{- toYaml (concat $args (default (list) $l.extraArgs)) }}
{{- end }}
