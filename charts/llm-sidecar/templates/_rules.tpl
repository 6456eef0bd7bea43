{{/*
The Prometheus rules (recording rules and alerts) as a rules file's `groups:`. The PrometheusRule
template renders them; manifests/prometheus-rules.yaml is the same rendered with the default
values (tests/k8s/chart_check.py fails when they differ; `make rules` rewrites it), and
`make rules-check` runs promtool's checks and unit tests (tests/prometheus/) on that file.

Alert annotations use Prometheus's own templates, written here as [[ ... ]] so Helm leaves them
alone; the caller turns them into {{ ... }}. They depend only on values, never on the release,
so the plain file fits any install.

Labels: `namespace` and `pod` come from the scrape (the PodMonitor/ServiceMonitor, or a
kubernetes_sd relabelling); `container` on cAdvisor's series names the sidecar container.
*/}}
{{- define "llm-sidecar.rules" -}}
{{- $v := .values -}}
{{- $a := $v.prometheusRule.alerts -}}
{{- $runbook := $v.prometheusRule.runbookUrl -}}
{{- $container := $v.sidecar.name -}}
groups:
  # Per-pod aggregations the dashboard reads (one series per pod, model, team instead of one per
  # provider and label combination), and the namespace-wide figures the alerts compare.
  - name: llm-sidecar.recording
    rules:
      - record: namespace_pod_model_team_status:llm_requests:rate5m
        expr: sum by (namespace, pod, model, team, status) (rate(llm_requests_total[5m]))
      - record: namespace_pod_model_le:llm_request_latency_seconds_bucket:rate5m
        expr: sum by (namespace, pod, model, le) (rate(llm_request_latency_seconds_bucket[5m]))
      - record: namespace_pod_model_le:llm_time_to_first_token_seconds_bucket:rate5m
        expr: sum by (namespace, pod, model, le) (rate(llm_time_to_first_token_seconds_bucket[5m]))
      - record: namespace_pod_model_team_type:llm_token_usage:rate5m
        expr: sum by (namespace, pod, model, team, type) (rate(llm_token_usage_total[5m]))
      - record: namespace_model:llm_requests_5xx:ratio_rate5m
        expr: |
          sum by (namespace, model) (namespace_pod_model_team_status:llm_requests:rate5m{status=~"5.."})
            / sum by (namespace, model) (namespace_pod_model_team_status:llm_requests:rate5m)
      - record: namespace_model:llm_request_latency_seconds:p95_rate5m
        expr: histogram_quantile(0.95, sum by (namespace, model, le) (namespace_pod_model_le:llm_request_latency_seconds_bucket:rate5m))
      - record: namespace_model:llm_time_to_first_token_seconds:p95_rate5m
        expr: histogram_quantile(0.95, sum by (namespace, model, le) (namespace_pod_model_le:llm_time_to_first_token_seconds_bucket:rate5m))
  - name: llm-sidecar.alerts
    rules:
      - alert: LLMSidecarNotReady
        # Phase 1 is Ready; a gateway that cannot be scraped at all reports nothing, so `up`
        # of its own scrape target counts too.
        expr: |
          (max by (namespace, pod) (llm_lifecycle_phase) != 1)
            or
          (max by (namespace, pod) (up{container="{{ $container }}"}) == 0)
        for: {{ $a.notReady.for }}
        labels:
          severity: critical
        annotations:
          summary: "llm-sidecar in [[ $labels.namespace ]]/[[ $labels.pod ]] is not ready"
          description: >-
            The gateway in pod [[ $labels.namespace ]]/[[ $labels.pod ]] has not been ready (or
            not scrapable) for {{ $a.notReady.for }}: its app cannot call any model. Check the
            sidecar container's logs and restarts, its /health/ready on the admin port, and
            whether it is draining (llm_lifecycle_phase 2) or stuck starting (0).
          runbook_url: "{{ $runbook }}#llmsidecarnotready"
      - alert: LLMSidecarHighErrorRatio
        expr: namespace_model:llm_requests_5xx:ratio_rate5m > {{ $a.errorRatio.threshold }}
        for: {{ $a.errorRatio.for }}
        labels:
          severity: critical
        annotations:
          summary: "Model [[ $labels.model ]] in [[ $labels.namespace ]] fails [[ $value | humanizePercentage ]] of requests"
          description: >-
            More than {{ mulf $a.errorRatio.threshold 100 }}% of the requests for model
            [[ $labels.model ]] in [[ $labels.namespace ]] were answered with a 5xx over the last
            5 minutes. Check llm_upstream_error_total by provider and error_type (429, 5xx,
            timeout, connect, circuit_open), the breaker state of its deployments, and the
            gateway's log lines with "outcome":"failed".
          runbook_url: "{{ $runbook }}#llmsidecarhigherrorratio"
      - alert: LLMSidecarHighLatency
        expr: namespace_model:llm_request_latency_seconds:p95_rate5m > {{ $a.latency.p95Seconds }}
        for: {{ $a.latency.for }}
        labels:
          severity: warning
        annotations:
          summary: "p95 latency of model [[ $labels.model ]] in [[ $labels.namespace ]] is [[ $value | humanizeDuration ]]"
          description: >-
            The 95th percentile of whole-request latency for model [[ $labels.model ]] in
            [[ $labels.namespace ]] has been above {{ $a.latency.p95Seconds }}s for
            {{ $a.latency.for }}. Check the upstream's own latency and status page, retries and
            fallbacks (x-llm-attempts, llm_upstream_error_total), and bulkhead saturation.
          runbook_url: "{{ $runbook }}#llmsidecarhighlatency"
      - alert: LLMSidecarSlowTimeToFirstToken
        expr: namespace_model:llm_time_to_first_token_seconds:p95_rate5m > {{ $a.timeToFirstToken.p95Seconds }}
        for: {{ $a.timeToFirstToken.for }}
        labels:
          severity: warning
        annotations:
          summary: "p95 time to first token of model [[ $labels.model ]] in [[ $labels.namespace ]] is [[ $value | humanizeDuration ]]"
          description: >-
            Streams of model [[ $labels.model ]] in [[ $labels.namespace ]] have waited more
            than {{ $a.timeToFirstToken.p95Seconds }}s for their first token (95th percentile)
            for {{ $a.timeToFirstToken.for }}. Check the upstream's queueing, routing.ttft_timeout
            failovers (llm_upstream_error_total{error_type="timeout"}) and prompt sizes.
          runbook_url: "{{ $runbook }}#llmsidecarslowtimetofirsttoken"
      - alert: LLMSidecarCircuitOpen
        # Half-open (1) between probes still means the deployment has not recovered.
        expr: max by (namespace, pod, provider, model) (llm_circuit_state) > 0
        for: {{ $a.circuitOpen.for }}
        labels:
          severity: warning
        annotations:
          summary: "Deployment [[ $labels.provider ]]/[[ $labels.model ]] in [[ $labels.namespace ]]/[[ $labels.pod ]] has not been closed for {{ $a.circuitOpen.for }}"
          description: >-
            The circuit breaker of deployment [[ $labels.provider ]]/[[ $labels.model ]] in pod
            [[ $labels.namespace ]]/[[ $labels.pod ]] has stayed open or half-open for
            {{ $a.circuitOpen.for }}: its traffic goes to other deployments or fails. Check
            llm_upstream_error_total{provider="[[ $labels.provider ]]"} by error_type, the
            provider's credentials and quota, and its status page.
          runbook_url: "{{ $runbook }}#llmsidecarcircuitopen"
      - alert: LLMSidecarConfigReloadFailing
        expr: max by (namespace, pod) (llm_config_last_reload_successful == 0)
        for: {{ $a.configReload.for }}
        labels:
          severity: warning
        annotations:
          summary: "llm-sidecar in [[ $labels.namespace ]]/[[ $labels.pod ]] runs a stale config"
          description: >-
            The last config reload in pod [[ $labels.namespace ]]/[[ $labels.pod ]] was rejected,
            so the previous config keeps serving and the ConfigMap's (or Secret's) current content
            is not in force. The gateway's "config rejected" log line names the field and line;
            check it with `llm-sidecar --config <file> --check`.
          runbook_url: "{{ $runbook }}#llmsidecarconfigreloadfailing"
      - alert: LLMSidecarBudgetNearlyExhausted
        # Every replica reports the same shared spend with Redis (its own without): max, not sum.
        expr: |
          max by (namespace, scope, name, team) (llm_budget_spent_usd)
            / max by (namespace, scope, name, team) (llm_budget_limit_usd > 0)
            > {{ $a.budget.threshold }}
        for: {{ $a.budget.for }}
        labels:
          severity: warning
        annotations:
          summary: "[[ $labels.scope ]] [[ $labels.name ]] in [[ $labels.namespace ]] has spent [[ $value | humanizePercentage ]] of its budget"
          description: >-
            The [[ $labels.scope ]] [[ $labels.name ]] (team [[ $labels.team ]]) in
            [[ $labels.namespace ]] has spent more than {{ mulf $a.budget.threshold 100 }}% of its
            budget_usd for the current period; when it is spent, its requests get 429
            insufficient_quota. Check who spends it (llm_cost_usd_total by key and model, or
            /admin/usage) and raise budget_usd or wait for the next period.
          runbook_url: "{{ $runbook }}#llmsidecarbudgetnearlyexhausted"
      - alert: LLMSidecarStoreUnreachable
        expr: sum by (namespace, pod) (rate(llm_store_errors_total[5m])) > 0
        for: {{ $a.store.for }}
        labels:
          severity: warning
        annotations:
          summary: "llm-sidecar in [[ $labels.namespace ]]/[[ $labels.pod ]] cannot reach its Redis store"
          description: >-
            Calls from pod [[ $labels.namespace ]]/[[ $labels.pod ]] to the shared store (Redis)
            have been failing for {{ $a.store.for }}: with store.on_error open, limits and budgets
            are enforced per replica (not shared); with closed, requests get 503. Check Redis's
            health, the store.url, network policies and the log line "redis unreachable".
          runbook_url: "{{ $runbook }}#llmsidecarstoreunreachable"
      - alert: LLMSidecarMemoryNearLimit
        # cAdvisor's series (the kubelet's /metrics/cadvisor); no limit set means no alert.
        expr: |
          max by (namespace, pod, container) (container_memory_working_set_bytes{container="{{ $container }}"})
            / max by (namespace, pod, container) (container_spec_memory_limit_bytes{container="{{ $container }}"} > 0)
            > {{ $a.memory.threshold }}
        for: {{ $a.memory.for }}
        labels:
          severity: warning
        annotations:
          summary: "llm-sidecar in [[ $labels.namespace ]]/[[ $labels.pod ]] uses [[ $value | humanizePercentage ]] of its memory limit"
          description: >-
            The sidecar container of pod [[ $labels.namespace ]]/[[ $labels.pod ]] has used more
            than {{ mulf $a.memory.threshold 100 }}% of its memory limit for {{ $a.memory.for }};
            at the limit the kernel kills it and the app loses its gateway. Check streams held
            open (llm_inflight_requests), large request bodies, whether the tokenizer is resident
            (/v1/messages/count_tokens callers), and raise resources.limits.memory.
          runbook_url: "{{ $runbook }}#llmsidecarmemorynearlimit"
{{- end -}}
