{{- define "elevate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "elevate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "elevate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "elevate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "elevate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "elevate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "elevate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "elevate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "elevate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "elevate.configMapName" -}}
{{- default (printf "%s-config" (include "elevate.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{/* What the chart refuses to render. */}}
{{- define "elevate.validate" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is required (the registry path of the Elevate image)" -}}
{{- end -}}
{{- if and (eq .Values.database.type "bbolt") (gt (int .Values.replicaCount) 1) -}}
{{- fail (printf "replicaCount=%d with database.type=bbolt: bbolt is one writer on one disk. Run one replica on bbolt, or several on PostgreSQL (database.type=postgres, database.existingSecret)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.existingSecret) -}}
{{- fail "database.type=postgres needs database.existingSecret: the Secret holding the connection URL (key database.secretKey)" -}}
{{- end -}}
{{- if and (eq (default "password" .Values.database.auth) "entra") (ne .Values.database.type "postgres") -}}
{{- fail "database.auth=entra is Microsoft Entra authentication to PostgreSQL: it needs database.type=postgres" -}}
{{- end -}}
{{- if and (eq (default "password" .Values.database.auth) "entra") (not .Values.workloadIdentity.enabled) -}}
{{- fail "database.auth=entra gets its database tokens through workload identity: set workloadIdentity.enabled and workloadIdentity.clientId" -}}
{{- end -}}
{{- if and (not .Values.config) (not .Values.existingConfigMap) -}}
{{- fail "give elevate.yaml as config (inline) or existingConfigMap" -}}
{{- end -}}
{{- if and .Values.workloadIdentity.enabled (not .Values.workloadIdentity.clientId) -}}
{{- fail "workloadIdentity.enabled needs workloadIdentity.clientId (the managed identity's or app registration's client id)" -}}
{{- end -}}
{{- range $name, $value := .Values.env -}}
{{- if or (regexMatch "(?i)(SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL)" $name) (eq $name "ELEVATE_DATABASE_URL") -}}
{{- fail (printf "env.%s looks like a secret: give it with secretEnv (from an existing Secret), never as a value" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
