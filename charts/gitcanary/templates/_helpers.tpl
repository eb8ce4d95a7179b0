{{/* The chart name, or nameOverride. */}}
{{- define "gitcanary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of every object: the release name, plus the chart name unless it holds it. */}}
{{- define "gitcanary.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gitcanary.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of the Pods that Services, the PDB and the Deployment select. */}}
{{- define "gitcanary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitcanary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gitcanary.labels" -}}
helm.sh/chart: {{ include "gitcanary.chart" . }}
{{ include "gitcanary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitcanary
{{- end }}

{{- define "gitcanary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitcanary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "gitcanary.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The arguments of one `gitcanary run` flag, as a JSON list, from (list "flag-name" value):
true -> ["--flag"]; false, null or "" -> []; a list -> ["--flag=a", "--flag=b"];
anything else -> ["--flag=value"] (whole numbers without a decimal point).
*/}}
{{- define "gitcanary.flagArgs" -}}
{{- $name := index . 0 }}
{{- $value := index . 1 }}
{{- $args := list }}
{{- if kindIs "bool" $value }}
{{- if $value }}{{ $args = append $args (printf "--%s" $name) }}{{ end }}
{{- else if kindIs "slice" $value }}
{{- range $value }}{{ $args = append $args (printf "--%s=%s" $name (include "gitcanary.scalar" .)) }}{{ end }}
{{- else if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{- $args = append $args (printf "--%s=%s" $name (include "gitcanary.scalar" $value)) }}
{{- end }}
{{- toJson $args }}
{{- end }}

{{/* A scalar value as a string; a float64 that holds a whole number prints without exponent. */}}
{{- define "gitcanary.scalar" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* The full argument list of the controller container. One line per flag. */}}
{{- define "gitcanary.args" -}}
{{- $c := .Values.controller }}
{{- $args := list "run" }}
{{- range $flag := list
      (list "namespace" $c.namespaces)
      (list "metrics-server" $c.metricsServer)
      (list "mesh-provider" $c.meshProvider)
      (list "health" (printf "http://0.0.0.0:%s/healthz" (include "gitcanary.scalar" $c.healthPort)))
      (list "metrics-addr" (printf "0.0.0.0:%s" (include "gitcanary.scalar" $c.metricsPort)))
      (list "max-concurrent-canaries" $c.maxConcurrentCanaries)
      (list "allow-cross-namespace-refs" $c.allowCrossNamespaceRefs)
      (list "allow-file-remotes" $c.allowFileRemotes)
      (list "leader-elect" $c.leaderElect)
      (list "leader-election-namespace" $c.leaderElectionNamespace)
      (list "watch-label-selector" $c.watchLabelSelector)
      (list "allowed-url" $c.allowedUrls)
      (list "verbose" $c.verbose)
      (list "slack-url" $c.alerts.slack.url)
      (list "slack-proxy-url" $c.alerts.slack.proxyUrl)
      (list "slack-user" $c.alerts.slack.user)
      (list "slack-channel" $c.alerts.slack.channel)
      (list "msteams-url" $c.alerts.msteams.url)
      (list "msteams-proxy-url" $c.alerts.msteams.proxyUrl)
      (list "discord-url" $c.alerts.discord.url)
      (list "discord-proxy-url" $c.alerts.discord.proxyUrl)
      (list "event-webhook" $c.alerts.eventWebhook)
      (list "cluster-name" $c.alerts.clusterName)
}}
{{- $args = concat $args (include "gitcanary.flagArgs" $flag | fromJsonArray) }}
{{- end }}
{{- toYaml (concat $args (default (list) $c.extraArgs)) }}
{{- end }}

{{/* Environment variables from the optional alerts Secret (controller.alerts.secretName). */}}
{{- define "gitcanary.alertsEnv" -}}
{{- with .Values.controller.alerts.secretName }}
{{- $secret := . }}
{{- range $key := list "slack-url" "slack-token" "slack-proxy-url" "msteams-url" "msteams-proxy-url" "discord-url" "discord-proxy-url" "event-webhook" }}
- name: GITCANARY_{{ $key | upper | replace "-" "_" }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
