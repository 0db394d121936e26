{{/*
One Silico service: Deployment, Service, PodDisruptionBudget, NetworkPolicy and,
for a Kafka stage worker with autoscaling on, a KEDA ScaledObject on its lag.

Context: {"root": $, "name": "backstory", "module": "services.backstory",
          "stage": "backstory" (Kafka stage; "" for none), "store": true,
          "role": "backstory" (model role; "" for none), "criticRole": "critic" (the model
          that reviews what the stage writes inside its units: interview answers),
          "singleton": true (at most one pod ever: the orchestrator; Recreate),
          "kafkaClient": true (uses Kafka without being a stage worker: the study service), "env": [...], "volumes": {...}}
*/}}
{{- define "silico-lib.service" -}}
{{- $root := .root -}}
{{- $v := index $root.Values.services .name -}}
{{- $full := include "silico-lib.component" . -}}
{{- $tls := $root.Values.tls -}}
{{- $serveTls := and $tls.enabled (or (eq .name "study") $tls.mutual) -}}
{{- $scaled := and .stage $v.autoscaling $v.autoscaling.enabled $root.Values.keda.enabled -}}
{{- $kafka := or .stage .kafkaClient -}}
{{- $ksec := $root.Values.kafka.security -}}
{{- $kafkaTls := and $kafka (ne $ksec.protocol "PLAINTEXT") (include "silico-lib.kafkaCaSecret" $root) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  {{- if not $scaled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  {{- if .singleton }}
  # One orchestrator at a time: the old pod is gone before the new one starts.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "silico-lib.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "silico-lib.selectorLabels" . | nindent 8 }}
      annotations:
        silico.dev/config-hash: {{ toJson $v | sha256sum | trunc 16 | quote }}
    spec:
      serviceAccountName: {{ include "silico-lib.fullname" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- include "silico-lib.podSecurityContext" $root | nindent 8 }}
      # SIGTERM drains in-flight RPCs and the current Kafka batch (offsets are
      # committed only after results are stored, so a cut-off unit is redelivered).
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | default 60 }}
      containers:
        - name: {{ .name }}
          image: {{ include "silico-lib.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["python", "-m", {{ .module | quote }}]
          ports:
            - name: grpc
              containerPort: 50051
              protocol: TCP
            - name: metrics
              containerPort: 9090
              protocol: TCP
            {{- if $serveTls }}
            - name: probe
              containerPort: 50052
              protocol: TCP
            {{- end }}
          env:
            - name: SILICO_GRPC_HOST
              value: "0.0.0.0"
            - name: SILICO_GRPC_PORT
              value: "50051"
            - name: SILICO_TELEMETRY_PORT
              value: "9090"
            # Topics belong to the chart (Strimzi KafkaTopics or the topic Job).
            - name: SILICO_CREATE_TOPICS
              value: "false"
            - name: SILICO_LOG_LEVEL
              value: {{ $root.Values.logLevel | quote }}
            {{- if $kafka }}
            - name: SILICO_KAFKA
              value: {{ include "silico-lib.kafkaBootstrap" $root | quote }}
            - name: SILICO_KAFKA_SECURITY_PROTOCOL
              value: {{ $ksec.protocol | quote }}
            {{- if $kafkaTls }}
            - name: SILICO_KAFKA_CA
              value: /etc/silico/kafka-ca/ca.crt
            {{- end }}
            {{- if eq $ksec.protocol "SASL_SSL" }}
            {{- if $root.Values.kafka.strimzi.enabled }}
            # The service's own KafkaUser; Strimzi keeps its password in a Secret of its name.
            - name: SILICO_KAFKA_USERNAME
              value: {{ $full | quote }}
            - name: SILICO_KAFKA_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $full }}
                  key: password
            {{- else }}
            - name: SILICO_KAFKA_USERNAME
              valueFrom:
                secretKeyRef:
                  name: {{ required "kafka.security.existingSecret is required for SASL_SSL without Strimzi" $ksec.existingSecret }}
                  key: username
            - name: SILICO_KAFKA_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $ksec.existingSecret }}
                  key: password
            {{- end }}
            {{- end }}
            {{- end }}
            {{- if .stage }}
            - name: SILICO_WORKER_CONCURRENCY
              value: {{ $v.workerConcurrency | default 16 | quote }}
            {{- end }}
            {{- if .store }}
            - name: SILICO_STORE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "silico-lib.storeSecret" $root }}
                  key: {{ $root.Values.store.secretKey }}
            {{- end }}
            {{- if .role }}
            - name: SILICO_MODEL_URL
              value: {{ include "silico-lib.modelUrl" (dict "root" $root "role" .role) | quote }}
            - name: SILICO_MODEL_NAME
              value: {{ include "silico-lib.modelName" (dict "root" $root "role" .role) | quote }}
            - name: SILICO_MODEL_CONCURRENCY
              value: {{ $v.modelConcurrency | default 16 | quote }}
            {{- end }}
            {{- if or .role (eq .name "study") }}
            - name: SILICO_MODEL_ROUTES
              value: {{ include "silico-lib.modelRoutes" (dict "root" $root) | quote }}
            {{- with $root.Values.models.allowedUrls }}
            - name: SILICO_MODEL_URLS
              value: {{ join "," . | quote }}
            {{- end }}
            {{- end }}
            {{- if .criticRole }}
            - name: SILICO_CRITIC_MODEL_URL
              value: {{ include "silico-lib.modelUrl" (dict "root" $root "role" .criticRole) | quote }}
            - name: SILICO_CRITIC_MODEL_NAME
              value: {{ include "silico-lib.modelName" (dict "root" $root "role" .criticRole) | quote }}
            {{- end }}
            {{- if $serveTls }}
            - name: SILICO_TLS_CERT
              value: /etc/silico/tls/tls.crt
            - name: SILICO_TLS_KEY
              value: /etc/silico/tls/tls.key
            - name: SILICO_PROBE_PORT
              value: "50052"
            {{- if $tls.mutual }}
            - name: SILICO_TLS_CA
              value: /etc/silico/tls/ca.crt
            {{- end }}
            {{- end }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          readinessProbe:
            grpc:
              port: {{ ternary 50052 50051 $serveTls }}
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            grpc:
              port: {{ ternary 50052 50051 $serveTls }}
            initialDelaySeconds: 10
            periodSeconds: 15
            failureThreshold: 4
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "silico-lib.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $serveTls }}
            - name: tls
              mountPath: /etc/silico/tls
              readOnly: true
            {{- end }}
            {{- if $kafkaTls }}
            - name: kafka-ca
              mountPath: /etc/silico/kafka-ca
              readOnly: true
            {{- end }}
            {{- range $name, $m := .volumes }}
            - name: {{ $name }}
              mountPath: {{ $m.mountPath }}
              readOnly: {{ $m.readOnly | default false }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if $serveTls }}
        - name: tls
          secret:
            secretName: {{ $tls.secretName }}
        {{- end }}
        {{- if $kafkaTls }}
        - name: kafka-ca
          secret:
            secretName: {{ include "silico-lib.kafkaCaSecret" $root }}
            items:
              - key: ca.crt
                path: ca.crt
        {{- end }}
        {{- range $name, $m := .volumes }}
        - name: {{ $name }}
          {{- toYaml $m.source | nindent 10 }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  type: {{ $v.serviceType | default "ClusterIP" }}
  selector:
    {{- include "silico-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: 50051
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: 9090
      targetPort: metrics
      protocol: TCP
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "silico-lib.selectorLabels" . | nindent 6 }}
{{- if $root.Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  podSelector:
    matchLabels:
      {{- include "silico-lib.selectorLabels" . | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  egress:
    - ports:  # DNS
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
    # gRPC: the release's own services (matching, metrics).
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: silico
              app.kubernetes.io/instance: {{ $root.Release.Name }}
      ports:
        - {port: 50051, protocol: TCP}
    {{- if $kafka }}
    # The Kafka brokers, and nothing else on the Kafka ports.
    - to:
        {{- if $root.Values.kafka.strimzi.enabled }}
        - podSelector:
            matchLabels:
              strimzi.io/cluster: {{ $root.Values.kafka.strimzi.cluster }}
        {{- end }}
        {{- with $root.Values.networkPolicy.kafkaPeers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- end }}
    {{- if .role }}
    # The model servers (KServe predictors of this release).
    - to:
        - podSelector:
            matchExpressions:
              - key: serving.kserve.io/inferenceservice
                operator: Exists
      ports:
        - {port: 8080, protocol: TCP}
        - {port: 80, protocol: TCP}
    {{- with $root.Values.networkPolicy.modelPeers }}
    # Model servers outside the release (models.runtime external, models.allowedUrls).
    - to:
        {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- end }}
    {{- if .store }}
    # The study store.
    - to:
        {{- toYaml $root.Values.networkPolicy.storePeers | nindent 8 }}
      ports:
        - {port: {{ $root.Values.networkPolicy.storePort }}, protocol: TCP}
    {{- end }}
  ingress:
    # gRPC: from the release's own pods; the study API also from the allowed clients.
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: silico
              app.kubernetes.io/instance: {{ $root.Release.Name }}
        {{- if eq .name "study" }}
        {{- with $root.Values.networkPolicy.studyClients }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- end }}
      ports:
        - port: grpc
          protocol: TCP
    # Metrics: from the monitoring namespace only.
    - from:
        - namespaceSelector:
            matchLabels:
              {{- toYaml $root.Values.networkPolicy.monitoringNamespaceLabels | nindent 14 }}
      ports:
        - port: metrics
          protocol: TCP
    {{- if $serveTls }}
    # Kubelet probes reach the plaintext health-only port.
    - ports:
        - port: probe
          protocol: TCP
    {{- end }}
{{- end }}
{{- if $scaled }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  scaleTargetRef:
    name: {{ $full }}
  minReplicaCount: {{ $v.autoscaling.minReplicas }}
  maxReplicaCount: {{ $v.autoscaling.maxReplicas }}
  pollingInterval: {{ $root.Values.keda.pollingInterval }}
  cooldownPeriod: {{ $root.Values.keda.cooldownPeriod }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: {{ $root.Values.keda.scaleDownStabilizationSeconds }}
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {{ include "silico-lib.kafkaBootstrap" $root | quote }}
        consumerGroup: {{ printf "silico-%s" .stage | quote }}
        topic: {{ printf "%s.requests.v1" .stage | quote }}
        lagThreshold: {{ $v.autoscaling.lagThreshold | quote }}
        offsetResetPolicy: earliest
        # One consumer per partition: more replicas than partitions would idle.
        allowIdleConsumers: "false"
        {{- if ne $ksec.protocol "PLAINTEXT" }}
        tls: enable
        {{- if eq $ksec.protocol "SASL_SSL" }}
        sasl: scram_sha512
        {{- end }}
      # KEDA reads the lag as the stage's own Kafka user, over TLS.
      authenticationRef:
        name: {{ $full }}
        {{- end }}
{{- if ne $ksec.protocol "PLAINTEXT" }}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ $full }}
  labels:
    {{- include "silico-lib.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  {{- if and (eq $ksec.protocol "SASL_SSL") $root.Values.kafka.strimzi.enabled }}
  env:
    - parameter: username
      name: SILICO_KAFKA_USERNAME
      containerName: {{ .name }}
  {{- end }}
  secretTargetRef:
    {{- if eq $ksec.protocol "SASL_SSL" }}
    {{- if $root.Values.kafka.strimzi.enabled }}
    - {parameter: password, name: {{ $full }}, key: password}
    {{- else }}
    - {parameter: username, name: {{ $ksec.existingSecret }}, key: username}
    - {parameter: password, name: {{ $ksec.existingSecret }}, key: password}
    {{- end }}
    {{- end }}
    - {parameter: ca, name: {{ include "silico-lib.kafkaCaSecret" $root }}, key: ca.crt}
{{- end }}
{{- end }}
{{- end -}}
