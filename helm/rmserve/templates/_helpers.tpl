{{/*
Names and labels, in the layout `helm create` uses.
*/}}
{{- define "rmserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rmserve.fullname" -}}
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

{{- define "rmserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rmserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rmserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rmserve.labels" -}}
helm.sh/chart: {{ include "rmserve.chart" . }}
{{ include "rmserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rmserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rmserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The server image: an explicit tag wins; otherwise the chart's appVersion, plus the GPU suffix on GPU pods.
*/}}
{{- define "rmserve.image" -}}
{{- $tag := .Values.image.tag }}
{{- if not $tag }}
{{- $tag = .Chart.AppVersion }}
{{- if .Values.gpu.enabled }}
{{- $tag = printf "%s%s" $tag .Values.image.gpuTagSuffix }}
{{- end }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/*
The pod's grace period: preStop pause + the server's own drain time + a margin for process exit.
Kubernetes counts the preStop hook inside this period, so anything shorter cuts the drain short.
*/}}
{{- define "rmserve.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain }}
{{- add (int $d.preStopSleepSeconds) (int $d.shutdownGraceSeconds) (int $d.terminationMarginSeconds) }}
{{- end }}

{{/*
A settings value as an environment variable's text: whole numbers without an exponent (YAML numbers
arrive as float64, and 1000000 would otherwise print as 1e+06), lists comma-separated (the server's list
settings, such as onnx_providers, are comma-separated strings), everything else as its plain text.
*/}}
{{- define "rmserve.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "slice" . }}
{{- join "," . }}
{{- else if kindIs "map" . }}
{{- toJson . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
Invariants that one field's schema cannot express. Each failure names the values to change.
*/}}
{{- define "rmserve.validate" -}}
{{- $d := .Values.drain }}
{{- $r := .Values.probes.readiness }}
{{- $readinessWindow := mul (int $r.periodSeconds) (int $r.failureThreshold) }}
{{- if lt (int $d.preStopSleepSeconds) $readinessWindow }}
{{- fail (printf "drain.preStopSleepSeconds (%d) must be at least probes.readiness.periodSeconds x failureThreshold (%d): the pod must leave the Service's endpoints before the server starts to drain" (int $d.preStopSleepSeconds) $readinessWindow) }}
{{- end }}
{{- range $probeName, $p := .Values.probes }}
{{- if ge (int $p.timeoutSeconds) (int $p.periodSeconds) }}
{{- fail (printf "probes.%s.timeoutSeconds (%d) must be shorter than its periodSeconds (%d)" $probeName (int $p.timeoutSeconds) (int $p.periodSeconds)) }}
{{- end }}
{{- end }}
{{- $maxRequestTimeout := .Values.settings.max_request_timeout_s }}
{{- if gt (float64 $maxRequestTimeout) (float64 $d.shutdownGraceSeconds) }}
{{- fail (printf "settings.max_request_timeout_s (%v) must not exceed drain.shutdownGraceSeconds (%d): a request accepted just before SIGTERM could outlive the drain and be cut off" $maxRequestTimeout (int $d.shutdownGraceSeconds)) }}
{{- end }}
{{- if not (or .Values.auth.existingSecret .Values.settings.behind_gateway) }}
{{- fail "rmserve refuses to listen on the pod network without API keys: set auth.existingSecret (a Secret whose key auth.secretKey holds comma-separated keys), or settings.behind_gateway=true when an authenticating gateway or mesh fronts the Service" }}
{{- end }}
{{- if and (eq .Values.model.source "pvc") (not .Values.model.pvc.claimName) }}
{{- fail "model.source is pvc: set model.pvc.claimName" }}
{{- end }}
{{- if and (eq .Values.model.source "initContainer") (not .Values.model.initContainer.image) }}
{{- fail "model.source is initContainer: set model.initContainer.image" }}
{{- end }}
{{- if and .Values.gpu.enabled (eq (toString (default "" .Values.settings.device)) "cpu") }}
{{- fail "gpu.enabled is true but settings.device is cpu: unset settings.device or set it to cuda" }}
{{- end }}
{{- $a := .Values.autoscaling }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if and (not $a.targetCPUUtilizationPercentage) (not $a.queueDepth.enabled) }}
{{- fail "autoscaling.enabled needs a metric: set autoscaling.targetCPUUtilizationPercentage or autoscaling.queueDepth.enabled" }}
{{- end }}
{{- if and $a.targetCPUUtilizationPercentage (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling.targetCPUUtilizationPercentage is a percentage of the CPU request: set resources.requests.cpu" }}
{{- end }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- $hasMin := hasKey $pdb "minAvailable" }}
{{- $hasMax := hasKey $pdb "maxUnavailable" }}
{{- if eq $hasMin $hasMax }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable" }}
{{- end }}
{{- $fewestReplicas := int .Values.replicaCount }}
{{- if $a.enabled }}
{{- $fewestReplicas = int $a.minReplicas }}
{{- end }}
{{- if and $hasMax (not (kindIs "string" $pdb.maxUnavailable)) (eq (int $pdb.maxUnavailable) 0) }}
{{- fail "podDisruptionBudget.maxUnavailable 0 blocks every node drain" }}
{{- end }}
{{- if and $hasMin (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) $fewestReplicas) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below the replica count (%d), or no node can ever be drained" (int $pdb.minAvailable) $fewestReplicas) }}
{{- end }}
{{- end }}
{{- if and (eq (toString .Values.updateStrategy.maxSurge) "0") (eq (toString .Values.updateStrategy.maxUnavailable) "0") }}
{{- fail "updateStrategy: maxSurge and maxUnavailable cannot both be 0" }}
{{- end }}
{{- end }}
