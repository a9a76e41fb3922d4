{{/*
The templates an app chart includes to inject routecar into its pod (README.md shows the
wiring). Each takes (dict "root" $ "values" .Values.routecar) and renders YAML list items
(or label lines) without indentation: pipe them through nindent.

  routecar.initContainers  the sidecar in native mode, nothing in classic mode
  routecar.containers      the sidecar in classic mode, nothing in native mode
  routecar.sidecar         the sidecar container itself, whatever the mode
  routecar.volumes         its volumes: config directory, route log, /tmp
  routecar.podLabels       the label the metrics Service selects pods by
  routecar.terminationGracePeriodSeconds (in _helpers.tpl)
*/}}

{{- define "routecar.isNative" -}}
{{- if eq .values.sidecar.mode "native" -}}true{{- end -}}
{{- end -}}

{{- define "routecar.initContainers" -}}
{{- if include "routecar.isNative" . -}}
{{ include "routecar.sidecar" . }}
{{- end -}}
{{- end -}}

{{- define "routecar.containers" -}}
{{- if not (include "routecar.isNative" .) -}}
{{ include "routecar.sidecar" . }}
{{- end -}}
{{- end -}}

{{- define "routecar.podLabels" -}}
routecar/sidecar: {{ include "routecar.fullname" . }}
{{- end -}}

{{- define "routecar.sidecar" -}}
{{- $v := .values -}}
{{- $admin := int $v.ports.admin -}}
- name: {{ $v.sidecar.containerName }}
  image: {{ include "routecar.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if include "routecar.isNative" . }}
  # A restartable init container: a native sidecar.
  restartPolicy: Always
  {{- end }}
  args: ["serve", "-c", "/etc/routecar/sidecar.yaml"]
  env:
    - name: ROUTECAR_CONFIG
      value: /etc/routecar/sidecar.yaml
    # For adminBindAddress: "${POD_IP}".
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    {{- if ($v.sharedState | default dict).enabled }}
    {{- range $v.extraEnv }}
    {{- if eq (toString .name) "REDIS_URL" }}
    {{- fail "routecar: extraEnv must not set REDIS_URL when sharedState.enabled is true: the chart sets it from sharedState.redisUrlSecret" }}
    {{- end }}
    {{- end }}
    # shared_state.redis.url in sidecar.yaml is "${REDIS_URL}": the URL and its password stay
    # in the Secret.
    - name: REDIS_URL
      valueFrom:
        secretKeyRef:
          name: {{ include "routecar.redisUrlSecretName" . }}
          key: {{ $v.sharedState.redisUrlSecret.key | default "redis-url" }}
    {{- end }}
    {{- $otlp := (($v.telemetry | default dict).otlp | default dict) }}
    {{- $otlpHeaders := (($otlp.headersSecret | default dict).headers | default dict) }}
    {{- if and $otlp.enabled $otlpHeaders }}
    {{- $secret := include "routecar.otlpHeadersSecretName" . }}
    {{- range $name, $key := $otlpHeaders }}
    {{- $env := include "routecar.otlpHeaderEnv" $name }}
    {{- range $v.extraEnv }}
    {{- if eq (toString .name) $env }}
    {{- fail (printf "routecar: extraEnv must not set %s: the chart sets it from telemetry.otlp.headersSecret" $env) }}
    {{- end }}
    {{- end }}
    # telemetry.otlp.headers.{{ lower $name }} in sidecar.yaml is "${{ "{" }}{{ $env }}{{ "}" }}": the value stays in the Secret.
    - name: {{ $env }}
      valueFrom:
        secretKeyRef:
          name: {{ $secret }}
          key: {{ $key }}
    {{- end }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.secrets.existingSecret }}
  # Provider keys, referenced from sidecar.yaml as ${OPENAI_API_KEY} and the like.
  envFrom:
    - secretRef:
        name: {{ . }}
        optional: {{ $v.secrets.optional }}
  {{- end }}
  ports:
    - name: rc-data
      containerPort: {{ int $v.ports.data }}
      protocol: TCP
    - name: rc-admin
      containerPort: {{ $admin }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /healthz
      port: {{ $admin }}
    periodSeconds: {{ $v.probes.startup.periodSeconds }}
    timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
    failureThreshold: {{ $v.probes.startup.failureThreshold }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ $admin }}
    periodSeconds: {{ $v.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ $admin }}
    periodSeconds: {{ $v.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.readiness.failureThreshold }}
  {{- if ne $v.preStop.action "none" }}
  lifecycle:
    preStop:
      {{- if eq $v.preStop.action "sleep" }}
      sleep:
        seconds: {{ int $v.preStop.seconds }}
      {{- else }}
      exec:
        command: ["sleep", "{{ int $v.preStop.seconds }}"]
      {{- end }}
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    # The ConfigMap is mounted as a directory, never with subPath: on an update the kubelet
    # swaps the directory's ..data symlink, which routecar watches to hot-reload; a subPath
    # mount is a copy that never changes.
    - name: routecar-config
      mountPath: /etc/routecar
      readOnly: true
    - name: routecar-data
      mountPath: {{ $v.routeLog.mountPath }}
    - name: routecar-tmp
      mountPath: /tmp
{{- end -}}

{{- define "routecar.volumes" -}}
{{- $v := .values -}}
- name: routecar-config
  configMap:
    name: {{ include "routecar.configMapName" . }}
- name: routecar-data
  emptyDir:
    sizeLimit: {{ $v.routeLog.sizeLimit }}
- name: routecar-tmp
  emptyDir:
    sizeLimit: {{ $v.tmpSizeLimit }}
{{- end -}}
