{{/*
The chart's name, or nameOverride.
*/}}
{{- define "datacoop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name, at most 63 characters (a DNS label). A release
name that already contains the chart's name is used as it is.
*/}}
{{- define "datacoop.fullname" -}}
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

{{/*
A name derived from the full name, with a suffix, still at most 63 characters.
*/}}
{{- define "datacoop.suffixed" -}}
{{- $base := include "datacoop.fullname" .context | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base .suffix }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "datacoop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "datacoop.labels" -}}
helm.sh/chart: {{ include "datacoop.chart" . }}
{{ include "datacoop.instanceLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: datacoop
{{- end }}

{{/*
The labels naming the release's objects, without the component.
*/}}
{{- define "datacoop.instanceLabels" -}}
app.kubernetes.io/name: {{ include "datacoop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The broker pods' selector. The component keeps the migration Job's pod
out of the Service, the PodDisruptionBudget and the autoscaler.
*/}}
{{- define "datacoop.selectorLabels" -}}
{{ include "datacoop.instanceLabels" . }}
app.kubernetes.io/component: broker
{{- end }}

{{/*
The ServiceAccount the broker runs as.
*/}}
{{- define "datacoop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "datacoop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount the migration Job runs as: a hook-time one of its own
when the chart creates ServiceAccounts (the release's is not there yet at
pre-install), else the named one.
*/}}
{{- define "datacoop.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- include "datacoop.suffixed" (dict "context" . "suffix" "migrate") }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository:tag, or repository:tag@digest.
*/}}
{{- define "datacoop.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
"true" when the database is SQLite: no existing Secret, and a URL that is
empty or starts with `sqlite`. A URL kept in an existing Secret is taken
to be PostgreSQL.
*/}}
{{- define "datacoop.sqlite" -}}
{{- if and (not .Values.database.existingSecret) (or (not .Values.database.url) (hasPrefix "sqlite" .Values.database.url)) }}true{{ end }}
{{- end }}

{{/*
The SQLite URL.
*/}}
{{- define "datacoop.sqliteUrl" -}}
{{- .Values.database.url | default "sqlite:///var/lib/datacoop/datacoop.db" }}
{{- end }}

{{/*
"true" when the migration hook Job runs: PostgreSQL and migrations.job.enabled.
*/}}
{{- define "datacoop.migrationJob" -}}
{{- if and .Values.migrations.job.enabled (not (include "datacoop.sqlite" .)) }}true{{ end }}
{{- end }}

{{/*
The Secret and key holding the PostgreSQL URL.
*/}}
{{- define "datacoop.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (include "datacoop.fullname" .) }}
{{- end }}
{{- define "datacoop.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}

{{/*
"true" when the chart creates the release's Secret: a PostgreSQL URL, an
admin token or a log signing key given as a value.
*/}}
{{- define "datacoop.createSecret" -}}
{{- if or (and .Values.database.url (not (include "datacoop.sqlite" .))) .Values.adminToken.value .Values.logSigningKey.value }}true{{ end }}
{{- end }}

{{/*
The log signing key's Secret, its key, and whether there is one.
*/}}
{{- define "datacoop.logSigningKeySecretName" -}}
{{- .Values.logSigningKey.existingSecret | default (include "datacoop.fullname" .) }}
{{- end }}
{{- define "datacoop.logSigningKeySecretKey" -}}
{{- if .Values.logSigningKey.existingSecret }}{{ .Values.logSigningKey.existingSecretKey }}{{ else }}log-signing-key{{ end }}
{{- end }}
{{- define "datacoop.logSigningKey" -}}
{{- if or .Values.logSigningKey.existingSecret .Values.logSigningKey.value }}true{{ end }}
{{- end }}

{{/*
The policy ConfigMap's name, if there is one.
*/}}
{{- define "datacoop.policiesConfigMap" -}}
{{- if .Values.policies.existingConfigMap }}
{{- .Values.policies.existingConfigMap }}
{{- else if .Values.policies.files }}
{{- include "datacoop.suffixed" (dict "context" . "suffix" "policies") }}
{{- end }}
{{- end }}

{{/*
How many broker pods at least: replicaCount, or the autoscaler's minimum.
*/}}
{{- define "datacoop.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
The environment that the broker and the migration Job share: the database
and the log settings. Called with (dict "context" $ "secretName" NAME);
NAME, when not empty, replaces the Secret holding the PostgreSQL URL (the
Job reads a hook-time copy of the chart's Secret).
*/}}
{{- define "datacoop.commonEnv" -}}
{{- $ctx := .context -}}
- name: DATACOOP_DATABASE_URL
{{- if include "datacoop.sqlite" $ctx }}
  value: {{ include "datacoop.sqliteUrl" $ctx | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | default (include "datacoop.databaseSecretName" $ctx) }}
      key: {{ include "datacoop.databaseSecretKey" $ctx }}
{{- end }}
- name: DATACOOP_DATABASE_MAX_CONNECTIONS
  value: {{ $ctx.Values.database.maxConnections | quote }}
- name: DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS
  value: {{ $ctx.Values.database.acquireTimeoutSeconds | quote }}
- name: DATACOOP_LOG_FORMAT
  value: {{ $ctx.Values.logFormat | quote }}
- name: DATACOOP_LOG
  value: {{ $ctx.Values.logLevel | quote }}
{{- end }}

{{/*
Refuses values that would deploy something that cannot work.
*/}}
{{- define "datacoop.validate" -}}
{{- $sqlite := include "datacoop.sqlite" . }}
{{- if and $sqlite (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "SQLite serves from one process (it holds the database file's lock): with database.url empty or sqlite:…, set replicaCount to 1 and autoscaling.enabled to false, or use PostgreSQL (database.url or database.existingSecret)" }}
{{- end }}
{{- if and $sqlite (not (regexMatch "^sqlite:(//)?/var/lib/datacoop/[^/?]+" (include "datacoop.sqliteUrl" .))) }}
{{- fail (printf "database.url `%s`: an SQLite file must be under /var/lib/datacoop/ (the writable volume), such as sqlite:///var/lib/datacoop/datacoop.db" .Values.database.url) }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret }}
{{- fail "set database.url or database.existingSecret, not both" }}
{{- end }}
{{- if and .Values.adminToken.value .Values.adminToken.existingSecret }}
{{- fail "set adminToken.value or adminToken.existingSecret, not both" }}
{{- end }}
{{- with .Values.adminToken.value }}
{{- if lt (len .) 32 }}
{{- fail "adminToken.value must be at least 32 characters (DATACOOP_ADMIN_TOKEN)" }}
{{- end }}
{{- if regexMatch "[[:space:][:cntrl:]]" . }}
{{- fail "adminToken.value must not contain spaces or control characters (DATACOOP_ADMIN_TOKEN)" }}
{{- end }}
{{- end }}
{{- if and .Values.logSigningKey.value .Values.logSigningKey.existingSecret }}
{{- fail "set logSigningKey.value or logSigningKey.existingSecret, not both" }}
{{- end }}
{{- if and .Values.logSigningKey.value (not (hasPrefix "PRIVATE+KEY+" .Values.logSigningKey.value)) }}
{{- fail "logSigningKey.value must be a signed-note private key, PRIVATE+KEY+<name>+<id>+<base64>" }}
{{- end }}
{{- if and .Values.policies.files .Values.policies.existingConfigMap }}
{{- fail "set policies.files or policies.existingConfigMap, not both" }}
{{- end }}
{{- if and .Values.policies.files (not (hasKey .Values.policies.files "vocabulary.json")) }}
{{- fail "policies.files must hold vocabulary.json (schema.cedarschema and coop.cedar are optional)" }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownDrainSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed shutdownDrainSeconds (%d), or Kubernetes kills the broker while it drains" (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownDrainSeconds)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
