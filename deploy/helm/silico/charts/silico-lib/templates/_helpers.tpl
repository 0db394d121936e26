{{/*
Shared helpers. Every template passes a context dict: {"root": $, "name": <service>}
where per-service objects are concerned, or just $ otherwise.
*/}}

{{- define "silico-lib.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "silico-lib.component" -}}
{{- printf "%s-%s" (include "silico-lib.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "silico-lib.labels" -}}
app.kubernetes.io/name: silico
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "silico-lib.selectorLabels" -}}
app.kubernetes.io/name: silico
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "silico-lib.image" -}}
{{- $img := .Values.image -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Restricted Pod Security: non-root, no privilege escalation, no capabilities. */}}
{{- define "silico-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "silico-lib.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Kafka bootstrap servers: the Strimzi cluster's bootstrap service, or the external one. */}}
{{- define "silico-lib.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrap -}}
{{- .Values.kafka.bootstrap -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:%v" .Values.kafka.strimzi.cluster (.Values.kafka.strimzi.port | default 9093) -}}
{{- else -}}
{{- fail "kafka.bootstrap is required unless kafka.strimzi.enabled" -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the database URL: the chart's own when store.url is set, else store.existingSecret. */}}
{{- define "silico-lib.storeSecret" -}}
{{- if .Values.store.url -}}
{{- printf "%s-store" (include "silico-lib.fullname" .) -}}
{{- else -}}
{{- .Values.store.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Name of the InferenceService serving a model role (backstory, critic, demographics, survey). */}}
{{- define "silico-lib.modelServer" -}}
{{- $root := .root -}}
{{- if eq $root.Values.models.runtime "cpu" -}}
{{- printf "%s-llm-embedded" (include "silico-lib.fullname" $root) -}}
{{- else -}}
{{- $server := required (printf "models.roles.%s is not set" .role) (index $root.Values.models.roles .role) -}}
{{- printf "%s-llm-%s" (include "silico-lib.fullname" $root) $server -}}
{{- end -}}
{{- end -}}

{{/* OpenAI-compatible API root of a role's model (KServe raw deployment: <isvc>-predictor). */}}
{{- define "silico-lib.modelUrl" -}}
{{- if eq .root.Values.models.runtime "external" -}}
{{- required "models.external.url is required with models.runtime external" .root.Values.models.external.url -}}
{{- else -}}
{{- printf "http://%s-predictor.%s.svc.cluster.local/openai/v1" (include "silico-lib.modelServer" .) .root.Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Every role's server and served name as JSON (SILICO_MODEL_ROUTES): the study
service resolves each study's `model` section over it, and every worker may call
any of these servers, so a study can route one role to another role's model. */}}
{{- define "silico-lib.modelRoutes" -}}
{{- $root := .root -}}
{{- $routes := dict -}}
{{- range $role := list "backstory" "critic" "demographics" "survey" -}}
{{- $_ := set $routes $role (dict "base_url" (include "silico-lib.modelUrl" (dict "root" $root "role" $role)) "name" (include "silico-lib.modelName" (dict "root" $root "role" $role))) -}}
{{- end -}}
{{- toJson $routes -}}
{{- end -}}

{{- define "silico-lib.modelName" -}}
{{- $root := .root -}}
{{- if eq $root.Values.models.runtime "external" -}}
{{- required "models.external.servedName is required with models.runtime external" $root.Values.models.external.servedName -}}
{{- else if eq $root.Values.models.runtime "cpu" -}}
{{- $root.Values.models.cpu.servedName -}}
{{- else -}}
{{- (index $root.Values.models.servers (index $root.Values.models.roles .role)).servedName -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Kafka cluster's CA (ca.crt), when Kafka speaks TLS. */}}
{{- define "silico-lib.kafkaCaSecret" -}}
{{- if .Values.kafka.security.caSecret -}}
{{- .Values.kafka.security.caSecret -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-cluster-ca-cert" .Values.kafka.strimzi.cluster -}}
{{- end -}}
{{- end -}}
