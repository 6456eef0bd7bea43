{{/*
The sidecar's public templates: what an app chart includes to inject it. Each takes the scope
described in _helpers.tpl. In a pod spec:

  {{- $llm := dict "values" (index .Values "llm-sidecar") "context" $ }}
  initContainers:
    {{- include "llm-sidecar.initContainers" $llm | nindent 4 }}
  containers:
    - name: app
      env: {{- include "llm-sidecar.appEnv" $llm | nindent 8 }}
      volumeMounts: {{- include "llm-sidecar.appVolumeMounts" $llm | nindent 8 }}
    {{- include "llm-sidecar.containers" $llm | nindent 4 }}
  volumes:
    {{- include "llm-sidecar.volumes" $llm | nindent 4 }}
*/}}

{{/* Injecting needs the sidecar's config (socket, loopback API): a standalone release has neither,
and would also render its own Deployment and Service into the app's release. */}}
{{- define "llm-sidecar.requireSidecarMode" -}}
{{- if not (include "llm-sidecar.sidecarMode" .) -}}
{{- fail "llm-sidecar is injected into this chart's pods: set llm-sidecar.mode=library" -}}
{{- end -}}
{{- end -}}

{{/* The sidecar for initContainers: rendered when sidecar.native is true, else nothing. */}}
{{- define "llm-sidecar.initContainers" -}}
{{- include "llm-sidecar.requireSidecarMode" . -}}
{{- if .values.sidecar.native }}{{ include "llm-sidecar.container" . }}{{ end -}}
{{- end -}}

{{/* The sidecar for containers: rendered when sidecar.native is false, else nothing. */}}
{{- define "llm-sidecar.containers" -}}
{{- include "llm-sidecar.requireSidecarMode" . -}}
{{- if not .values.sidecar.native }}{{ include "llm-sidecar.container" . }}{{ end -}}
{{- end -}}

{{- define "llm-sidecar.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: llm-admin
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* The gateway container, as one list item. A native sidecar also gets restartPolicy: Always.
No preStop hook: a native sidecar receives SIGTERM only after the app containers have exited,
and a plain one keeps accepting for drain.delaySeconds after SIGTERM anyway. */}}
{{- define "llm-sidecar.container" -}}
{{- $v := .values -}}
{{- $sidecar := include "llm-sidecar.sidecarMode" . -}}
{{- $native := and $sidecar $v.sidecar.native -}}
{{- if and $native (semverCompare "<1.29.0-0" .context.Capabilities.KubeVersion.Version) -}}
{{- fail "sidecar.native needs Kubernetes >= 1.29 (older API servers drop restartPolicy and the init container would block the pod): set sidecar.native=false" -}}
{{- end -}}
- name: {{ $v.sidecar.name }}
  image: {{ include "llm-sidecar.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $native }}
  restartPolicy: Always
  {{- end }}
  args: ["--config", "{{ include "llm-sidecar.configDir" . }}/config.yaml"]
  {{- with include "llm-sidecar.env" . | trim }}
  env:
    {{- . | nindent 4 }}
  {{- end }}
  ports:
    {{- if not $sidecar }}
    - name: llm-api
      containerPort: {{ $v.ports.api }}
      protocol: TCP
    {{- end }}
    - name: llm-admin
      containerPort: {{ $v.ports.admin }}
      protocol: TCP
  startupProbe:
    {{- include "llm-sidecar.probe" (dict "probe" $v.probes.startup) | nindent 4 }}
  readinessProbe:
    {{- include "llm-sidecar.probe" (dict "probe" $v.probes.readiness) | nindent 4 }}
  livenessProbe:
    {{- include "llm-sidecar.probe" (dict "probe" $v.probes.liveness) | nindent 4 }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    {{- if $sidecar }}
    - name: llm-sidecar-socket
      mountPath: {{ $v.socket.dir }}
    {{- end }}
    - name: llm-sidecar-config
      mountPath: {{ include "llm-sidecar.configDir" . }}
      readOnly: true
    {{- if include "llm-sidecar.secretName" . }}
    - name: llm-sidecar-secrets
      mountPath: {{ $v.secret.mountPath }}
      readOnly: true
    {{- end }}
    {{- if include "llm-sidecar.webIdentity" . }}
    - name: {{ include "llm-sidecar.awsTokenVolume" . }}
      mountPath: {{ include "llm-sidecar.awsTokenDir" . }}
      readOnly: true
    {{- end }}
{{- end -}}

{{/* The gateway container's env: the AWS settings (aws.*), then extraEnv. Empty when neither is
set. */}}
{{- define "llm-sidecar.env" -}}
{{- $aws := .values.aws | default dict -}}
{{- with $aws.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- if include "llm-sidecar.webIdentity" . }}
- name: AWS_ROLE_ARN
  value: {{ $aws.webIdentity.roleArn | quote }}
- name: AWS_WEB_IDENTITY_TOKEN_FILE
  value: {{ printf "%s/token" (include "llm-sidecar.awsTokenDir" .) }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" when aws.webIdentity.roleArn is set: the gateway gets a projected token for STS. */}}
{{- define "llm-sidecar.webIdentity" -}}
{{- $aws := .values.aws | default dict -}}
{{- if and $aws.webIdentity $aws.webIdentity.roleArn }}true{{ end -}}
{{- end -}}

{{/* The EKS pod identity webhook's own volume name and directory: when it runs anyway, it sees
them and adds no second token. */}}
{{- define "llm-sidecar.awsTokenVolume" -}}aws-iam-token{{- end -}}
{{- define "llm-sidecar.awsTokenDir" -}}/var/run/secrets/eks.amazonaws.com/serviceaccount{{- end -}}

{{/* The pod volumes the sidecar needs: the socket directory (sidecar modes), its config, its
Secret and, with aws.webIdentity, the projected token for STS. The socket lives in memory: it is
a rendezvous point, never data. */}}
{{- define "llm-sidecar.volumes" -}}
{{- if include "llm-sidecar.sidecarMode" . -}}
- name: llm-sidecar-socket
  emptyDir:
    medium: Memory
    sizeLimit: {{ .values.socket.sizeLimit }}
{{ end -}}
- name: llm-sidecar-config
  configMap:
    name: {{ include "llm-sidecar.configMapName" . }}
{{- with include "llm-sidecar.secretName" . }}
- name: llm-sidecar-secrets
  secret:
    secretName: {{ . }}
    # Only the sidecar mounts it; readable by its non-root user without relying on fsGroup.
    defaultMode: 0444
{{- end }}
{{- if include "llm-sidecar.webIdentity" . }}
- name: {{ include "llm-sidecar.awsTokenVolume" . }}
  projected:
    # The kubelet makes the token readable by the pod's fsGroup (the sidecar's group).
    sources:
      - serviceAccountToken:
          audience: {{ .values.aws.webIdentity.audience }}
          expirationSeconds: {{ int .values.aws.webIdentity.expirationSeconds }}
          path: token
{{- end }}
{{- end -}}

{{/* For app containers: the socket directory, read-only (connecting to a socket needs no write
access to the mount, and the app cannot remove or replace the socket). */}}
{{- define "llm-sidecar.appVolumeMounts" -}}
- name: llm-sidecar-socket
  mountPath: {{ .values.socket.dir }}
  readOnly: true
{{- end -}}

{{/* For app containers: where the gateway is. Most SDKs read OPENAI_BASE_URL and
ANTHROPIC_BASE_URL but cannot dial a socket, so those point at the loopback TCP listener. */}}
{{- define "llm-sidecar.appEnv" -}}
{{- if .values.appEnv.enabled -}}
- name: LLM_SIDECAR_SOCKET
  value: {{ include "llm-sidecar.socketPath" . }}
- name: OPENAI_BASE_URL
  value: {{ printf "http://127.0.0.1:%d/v1" (int .values.ports.api) }}
- name: ANTHROPIC_BASE_URL
  value: {{ printf "http://127.0.0.1:%d" (int .values.ports.api) }}
{{- end }}
{{- end -}}
