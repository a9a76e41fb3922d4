{{/*
Every helper takes a context dict: (dict "root" $ "values" $values), where $values are this
chart's values: `.Values` inside this chart, `.Values.routecar` in an app chart that injects the
sidecar. Names are derived from the release name and the values only (never from .Chart, which
is the app's chart when called from there), so both sides agree on the ConfigMap's name.
*/}}

{{- define "routecar.fullname" -}}
{{- $v := .values -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "routecar" .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-routecar" .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "routecar.configMapName" -}}
{{- if .values.configMap.create -}}
{{- include "routecar.fullname" . -}}
{{- else -}}
{{- required "routecar: configMap.name is required when configMap.create is false" .values.configMap.name -}}
{{- end -}}
{{- end -}}

{{/* Labels of the objects this chart itself renders (root is this chart's context there). */}}
{{- define "routecar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: routecar
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "routecar.image" -}}
{{- printf "%s:%s" .values.image.repository (toString .values.image.tag) -}}
{{- end -}}

{{/* "host:port", with brackets around an IPv6 literal. */}}
{{- define "routecar.hostPort" -}}
{{- if contains ":" .host -}}
{{- printf "[%s]:%d" .host (int .port) -}}
{{- else -}}
{{- printf "%s:%d" .host (int .port) -}}
{{- end -}}
{{- end -}}

{{/*
The sidecar.yaml the ConfigMap carries: the user's `config` plus the keys the chart owns.
The chart owns the sockets and the drain budget because the probes, the Service and
terminationGracePeriodSeconds are computed from the same values; letting `config` set them too
would let the two silently disagree.
*/}}
{{- define "routecar.config" -}}
{{- $v := .values -}}
{{- $cfg := deepCopy ($v.config | default dict) -}}
{{- $server := get $cfg "server" | default dict -}}
{{- range $key := list "listen" "admin_listen" "drain_timeout" -}}
{{- if hasKey $server $key -}}
{{- fail (printf "routecar: do not set config.server.%s; the chart sets it from ports, dataBindAddress, adminBindAddress and drainTimeoutSeconds" $key) -}}
{{- end -}}
{{- end -}}
{{- $admin := toString $v.adminBindAddress -}}
{{- if or (hasPrefix "127." $admin) (eq $admin "localhost") (eq $admin "::1") -}}
{{- fail "routecar: adminBindAddress must not be a loopback address: kubelet probes and Prometheus reach the admin port from outside the pod" -}}
{{- end -}}
{{- $_ := set $server "listen" (include "routecar.hostPort" (dict "host" $v.dataBindAddress "port" $v.ports.data)) -}}
{{- $_ := set $server "admin_listen" (include "routecar.hostPort" (dict "host" $admin "port" $v.ports.admin)) -}}
{{- $_ := set $server "drain_timeout" (int $v.drainTimeoutSeconds) -}}
{{- $_ := set $cfg "server" $server -}}
{{- $log := get $cfg "route_log" | default dict -}}
{{- $mount := trimSuffix "/" $v.routeLog.mountPath -}}
{{- if hasKey $log "path" -}}
{{- if not (hasPrefix (printf "%s/" $mount) (toString $log.path)) -}}
{{- fail (printf "routecar: config.route_log.path must be under routeLog.mountPath (%s): the root filesystem is read-only" $mount) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $log "path" (printf "%s/%s" $mount $v.routeLog.file) -}}
{{- end -}}
{{- $_ := set $cfg "route_log" $log -}}
{{- if hasKey $cfg "shared_state" -}}
{{- fail "routecar: do not set config.shared_state; set sharedState.enabled and sharedState.* instead: the chart writes shared_state from them and gives the container the Redis URL from sharedState.redisUrlSecret" -}}
{{- end -}}
{{- $ss := $v.sharedState | default dict -}}
{{- if $ss.enabled -}}
{{- $_ := include "routecar.redisUrlSecretName" . -}}
{{- $redis := dict "url" "${REDIS_URL}" "key_prefix" (toString $ss.keyPrefix) "timeout" (toString $ss.timeout) -}}
{{- if hasKey $ss "maxConnections" -}}
{{- $_ := set $redis "max_connections" (int $ss.maxConnections) -}}
{{- end -}}
{{- $_ := set $cfg "shared_state" (dict "redis" $redis "on_unavailable" $ss.onUnavailable) -}}
{{- else -}}
{{- range $name, $route := (get $cfg "routes" | default dict) -}}
{{- $exact := dict -}}
{{- if and (kindIs "map" $route) (kindIs "map" (get $route "cache")) -}}
{{- $exact = get (get $route "cache") "exact" -}}
{{- end -}}
{{- if and (kindIs "map" $exact) (eq (toString (get $exact "shared")) "true") -}}
{{- fail (printf "routecar: config.routes.%s.cache.exact.shared needs sharedState.enabled (a Redis to share the cache through)" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if hasKey $cfg "telemetry" -}}
{{- fail "routecar: do not set config.telemetry; set telemetry.otlp.* and telemetry.routeRows instead: the chart writes telemetry from them and gives the container the collector headers from telemetry.otlp.headersSecret" -}}
{{- end -}}
{{- $telemetry := include "routecar.telemetry" . | fromYaml -}}
{{- if $telemetry -}}
{{- $_ := set $cfg "telemetry" $telemetry -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The telemetry section from the values (empty when off). Collector headers are only references
("${ROUTECAR_OTLP_HEADER_<NAME>}"): their values reach the container from headersSecret.
*/}}
{{- define "routecar.telemetry" -}}
{{- $tel := .values.telemetry | default dict -}}
{{- $otlp := $tel.otlp | default dict -}}
{{- $rows := toString ($tel.routeRows | default "none") -}}
{{- $out := dict -}}
{{- if $otlp.enabled -}}
{{- $o := dict "endpoint" (required "routecar: telemetry.otlp.endpoint is required when telemetry.otlp.enabled is true (the collector's OTLP/HTTP URL, e.g. http://otel-collector.observability:4318)" $otlp.endpoint) -}}
{{- $headers := dict -}}
{{- range $name, $key := (($otlp.headersSecret | default dict).headers | default dict) -}}
{{- $_ := set $headers (lower $name) (printf "${%s}" (include "routecar.otlpHeaderEnv" $name)) -}}
{{- end -}}
{{- if $headers -}}
{{- $_ := include "routecar.otlpHeadersSecretName" $ -}}
{{- $_ := set $o "headers" $headers -}}
{{- end -}}
{{- if hasKey $otlp "sampleRatio" -}}
{{- $_ := set $o "sample_ratio" (float64 $otlp.sampleRatio) -}}
{{- end -}}
{{- if $otlp.timeout -}}
{{- $_ := set $o "timeout" (toString $otlp.timeout) -}}
{{- end -}}
{{- $_ := set $out "otlp" $o -}}
{{- else if eq $rows "otlp_logs" -}}
{{- fail "routecar: telemetry.routeRows otlp_logs needs telemetry.otlp.enabled (a collector to send the rows to)" -}}
{{- end -}}
{{- if ne $rows "none" -}}
{{- $_ := set $out "route_rows" $rows -}}
{{- end -}}
{{- if $out -}}
{{- toYaml $out -}}
{{- end -}}
{{- end -}}

{{/* The environment variable one collector header's value comes in. */}}
{{- define "routecar.otlpHeaderEnv" -}}
{{- printf "ROUTECAR_OTLP_HEADER_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/* The Secret holding the collector headers: required once a header is listed. */}}
{{- define "routecar.otlpHeadersSecretName" -}}
{{- $secret := ((.values.telemetry | default dict).otlp | default dict).headersSecret | default dict -}}
{{- required "routecar: telemetry.otlp.headersSecret.name is required when telemetry.otlp.headersSecret.headers is set: an existing Secret holding the header values" $secret.name -}}
{{- end -}}

{{/* The Secret holding the Redis URL: required once sharedState.enabled. */}}
{{- define "routecar.redisUrlSecretName" -}}
{{- $secret := (.values.sharedState | default dict).redisUrlSecret | default dict -}}
{{- required "routecar: sharedState.redisUrlSecret.name is required when sharedState.enabled is true: an existing Secret holding the Redis URL (see the chart README)" $secret.name -}}
{{- end -}}

{{/* preStop + drain + padding: the pod's whole shutdown must fit in the grace period. */}}
{{- define "routecar.terminationGracePeriodSeconds" -}}
{{- $v := .values -}}
{{- $preStop := 0 -}}
{{- if ne $v.preStop.action "none" -}}
{{- $preStop = int $v.preStop.seconds -}}
{{- end -}}
{{- add $preStop (int $v.drainTimeoutSeconds) (int $v.terminationGracePaddingSeconds) -}}
{{- end -}}
