{{- define "switchboard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.labels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "switchboard.selector" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "switchboard.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The Secret holding the session key under "session-key": the user's, or the chart's own. */ -}}
{{- define "switchboard.sessionSecret" -}}
{{- .Values.sessions.existingSecret | default (printf "%s-session" (include "switchboard.fullname" .)) -}}
{{- end -}}

{{- /* The config as the gateway reads it: .Values.config plus the fleet settings and TLS. A
replica reaches the others at its pod IP; config.sessions, config.redis and config.tls keys win
over the chart's. */ -}}
{{- define "switchboard.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $sessions := dict "key" "${SWITCHBOARD_SESSION_KEY}" "replica_address" (printf "${POD_IP}:%v" .Values.service.adminPort) -}}
{{- $_ := set $cfg "sessions" (mergeOverwrite $sessions ($cfg.sessions | default dict)) -}}
{{- $redis := dict -}}
{{- with .Values.redis.address }}{{ $_ := set $redis "address" . }}{{ end -}}
{{- if .Values.redis.existingSecret }}{{ $_ := set $redis "password" "${SWITCHBOARD_REDIS_PASSWORD}" }}{{ end -}}
{{- if $redis -}}
{{- if and $cfg.cache $cfg.cache.redis -}}
{{- fail "redis.* and config.cache.redis are both set: move config.cache.redis to config.redis (or drop redis.*)" -}}
{{- end -}}
{{- $_ := set $cfg "redis" (mergeOverwrite $redis ($cfg.redis | default dict)) -}}
{{- end -}}
{{- if .Values.tls.existingSecret -}}
{{- $tls := dict "cert_file" "/tls/tls.crt" "key_file" "/tls/tls.key" -}}
{{- with .Values.tls.clientCAKey }}{{ $_ := set $tls "client_ca_file" (printf "/tls/%s" .) }}{{ end -}}
{{- $_ := set $cfg "tls" (mergeOverwrite $tls ($cfg.tls | default dict)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
