{{/*
Every helper takes a scope: (dict "values" <this chart's values> "context" $). Inside this chart
that is (dict "values" .Values "context" $); an app chart that depends on this one passes
(dict "values" (index .Values "llm-sidecar") "context" $). Names are built from the release
only, never from .Chart, so the app chart's includes and this chart's own resources agree.
*/}}

{{/* Resource name: fullnameOverride, else the release name when it already says llm-sidecar,
else "<release>-llm-sidecar"; 63 characters at most (a DNS label). */}}
{{- define "llm-sidecar.fullname" -}}
{{- $release := .context.Release.Name -}}
{{- if .values.fullnameOverride -}}
{{- .values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "llm-sidecar" $release -}}
{{- $release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-llm-sidecar" $release | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llm-sidecar.selectorLabels" -}}
app.kubernetes.io/name: llm-sidecar
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end -}}

{{- define "llm-sidecar.labels" -}}
{{ include "llm-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .context.Chart.Name .context.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The label the PodMonitor selects: put it on any pod that carries the sidecar. */}}
{{- define "llm-sidecar.podLabels" -}}
llm-sidecar/injected: "true"
{{- end -}}

{{/* The labels a cloud identity webhook looks for on the pod (AKS workload identity); empty
when none is configured. App charts in library mode add them to their pods as well. */}}
{{- define "llm-sidecar.identityLabels" -}}
{{- $wi := (.values.azure | default dict).workloadIdentity | default dict -}}
{{- if $wi.clientId -}}
azure.workload.identity/use: "true"
{{- end -}}
{{- end -}}

{{/* The created service account's annotations: serviceAccount.annotations, plus the GKE and AKS
identity annotations of gcp.serviceAccount and azure.workloadIdentity. */}}
{{- define "llm-sidecar.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy (.values.serviceAccount.annotations | default dict) -}}
{{- with (.values.gcp | default dict).serviceAccount -}}
{{- $_ := set $annotations "iam.gke.io/gcp-service-account" . -}}
{{- end -}}
{{- $wi := (.values.azure | default dict).workloadIdentity | default dict -}}
{{- with $wi.clientId -}}
{{- $_ := set $annotations "azure.workload.identity/client-id" . -}}
{{- end -}}
{{- with $wi.tenantId -}}
{{- $_ := set $annotations "azure.workload.identity/tenant-id" . -}}
{{- end -}}
{{- if $annotations }}{{ toYaml $annotations }}{{ end -}}
{{- end -}}

{{- define "llm-sidecar.image" -}}
{{- $image := .values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $image.tag -}}
{{- end -}}
{{- end -}}

{{- define "llm-sidecar.configMapName" -}}
{{- default (include "llm-sidecar.fullname" .) .values.existingConfigMap -}}
{{- end -}}

{{/* Empty when no Secret is mounted. */}}
{{- define "llm-sidecar.secretName" -}}
{{- if .values.secret.existingSecret -}}
{{- .values.secret.existingSecret -}}
{{- else if .values.secret.create -}}
{{- include "llm-sidecar.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "llm-sidecar.socketPath" -}}
{{- printf "%s/%s" (trimSuffix "/" .values.socket.dir) .values.socket.file -}}
{{- end -}}

{{/* The ConfigMap is mounted as a directory (never with subPath, which would freeze the file:
the gateway watches the directory for the kubelet's atomic ..data swap). */}}
{{- define "llm-sidecar.configDir" -}}/etc/llm-sidecar/config{{- end -}}

{{- define "llm-sidecar.sidecarMode" -}}
{{- if ne .values.mode "standalone" }}true{{ end -}}
{{- end -}}

{{/* The gateway's config file. The chart owns the server keys that the container spec is built
from (listeners, drain times), so the probes, ports and mounts always match the config. */}}
{{- define "llm-sidecar.config" -}}
{{- $v := .values -}}
{{- $config := deepCopy (default dict $v.config) -}}
{{- $server := deepCopy (default dict $config.server) -}}
{{- range $key := list "listen" "port" "admin" "drain_delay" "drain_timeout" -}}
{{- if hasKey $server $key -}}
{{- fail (printf "config.server.%s is set by the chart: use the socket, ports and drain values" $key) -}}
{{- end -}}
{{- end -}}
{{- $listen := dict -}}
{{- if include "llm-sidecar.sidecarMode" . -}}
{{- $_ := set $listen "tcp" (printf "127.0.0.1:%d" (int $v.ports.api)) -}}
{{- $_ := set $listen "unix" (include "llm-sidecar.socketPath" .) -}}
{{- $_ := set $listen "unix_mode" $v.socket.mode -}}
{{- else -}}
{{- $_ := set $listen "tcp" (printf "0.0.0.0:%d" (int $v.ports.api)) -}}
{{- end -}}
{{- $_ := set $server "listen" $listen -}}
{{- $_ := set $server "admin" (printf "0.0.0.0:%d" (int $v.ports.admin)) -}}
{{- $_ := set $server "drain_delay" (printf "%ds" (int $v.drain.delaySeconds)) -}}
{{- $_ := set $server "drain_timeout" (printf "%ds" (int $v.drain.timeoutSeconds)) -}}
{{- $_ := set $config "server" $server -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The pod's grace period: long enough for the whole drain, or the kubelet SIGKILLs it. */}}
{{- define "llm-sidecar.terminationGracePeriodSeconds" -}}
{{- $v := .values -}}
{{- $drain := add (int $v.drain.delaySeconds) (int $v.drain.timeoutSeconds) -}}
{{- if kindIs "invalid" $v.terminationGracePeriodSeconds -}}
{{- add $drain (int $v.terminationGraceMarginSeconds) -}}
{{- else if lt (int $v.terminationGracePeriodSeconds) (int $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) is shorter than drain.delaySeconds + drain.timeoutSeconds (%d)" (int $v.terminationGracePeriodSeconds) $drain) -}}
{{- else -}}
{{- int $v.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Optional pod annotation that rolls pods when the rendered config changes. */}}
{{- define "llm-sidecar.podAnnotations" -}}
{{- with .values.podAnnotations -}}
{{ toYaml . }}
{{ end -}}
{{- if and .values.rollOnConfigChange (not .values.existingConfigMap) -}}
checksum/config: {{ include "llm-sidecar.config" . | sha256sum }}
{{- end -}}
{{- end -}}

{{/* The service account of the chart's own pods: serviceAccount.name, else the resource name
when the chart creates it; empty (the namespace's default) when neither. */}}
{{- define "llm-sidecar.serviceAccountName" -}}
{{- $sa := .values.serviceAccount | default dict -}}
{{- if $sa.name -}}
{{- $sa.name -}}
{{- else if $sa.create -}}
{{- include "llm-sidecar.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Pod spec fields shared by the Deployments this chart renders. */}}
{{- define "llm-sidecar.podSpecCommon" -}}
{{- $v := .values -}}
{{- with include "llm-sidecar.serviceAccountName" . -}}
serviceAccountName: {{ . }}
automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
{{ end -}}
{{- with $v.imagePullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{ end -}}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ include "llm-sidecar.terminationGracePeriodSeconds" . }}
# Service env vars would only add noise (and a restart on every new Service) to the gateway.
enableServiceLinks: false
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
