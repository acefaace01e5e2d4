{{/* Names, labels and the environment every tuneloop container shares. */}}

{{- define "tuneloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tuneloop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "tuneloop.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "tuneloop.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tuneloop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tuneloop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tuneloop
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "dataprep") */}}
{{- define "tuneloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tuneloop.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tuneloop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tuneloop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* an image: (dict "root" $ "ml" true "gpu" true); the service image unless `ml`, the ML image's
     CUDA tag with `gpu` (validate.yaml fails the install when GPUs can be asked for without one;
     a GPU group that can never start keeps the CPU tag, so the manifest stays valid) */}}
{{- define "tuneloop.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if and .gpu .root.Values.image.gpuTag -}}{{- $tag = .root.Values.image.gpuTag -}}{{- end -}}
{{- $repository := .root.Values.image.repository -}}
{{- if or .ml .gpu -}}{{- $repository = .root.Values.image.mlRepository -}}{{- end -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}

{{/* A pod's placement, from a component's values (services.<name>, ray.<group>) over the chart-wide
     defaults: (dict "root" $ "c" $values) */}}
{{- define "tuneloop.placement" -}}
{{- with (default .root.Values.nodeSelector .c.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .root.Values.tolerations .c.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .root.Values.affinity .c.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* a pod template's extra labels and its annotations: (dict "root" $ "c" $values) */}}
{{- define "tuneloop.podLabels" -}}
{{- with .c.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{- define "tuneloop.podAnnotations" -}}
{{- with (merge (deepCopy (default dict .c.podAnnotations)) (default dict .root.Values.podAnnotations)) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "tuneloop.rayAddress" -}}
{{- if eq .Values.ray.mode "kuberay" -}}
{{- printf "http://%s-ray-head-svc:8265" (include "tuneloop.fullname" .) -}}
{{- else if eq .Values.ray.mode "external" -}}
{{- .Values.ray.address -}}
{{- end -}}
{{- end -}}

{{/* the environment of every service container */}}
{{- define "tuneloop.env" -}}
- name: TUNELOOP_ADDRESS
  value: "0.0.0.0:{{ .Values.ports.grpc }}"
- name: TUNELOOP_METRICS_HOST
  value: "0.0.0.0"
- name: TUNELOOP_METRICS_PORT
  value: {{ .Values.ports.metrics | quote }}
- name: TUNELOOP_DATA_DIR
  value: /data
- name: HOME
  value: /tmp/home  # the root filesystem is read-only; a local Ray (ray.mode=local) keeps files under ~
- name: TUNELOOP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.secretKey }}
{{- range $name := list "dataprep" "registry" "trainer" "evaluator" "controller" "serving" }}
- name: TUNELOOP_{{ upper $name }}_ADDRESS
  value: "{{ include "tuneloop.fullname" $ }}-{{ $name }}:{{ $.Values.ports.grpc }}"
{{- end }}
- name: TUNELOOP_DB_MIGRATE
  value: "false"  # the migration Job did it, before any pod started
- name: TUNELOOP_DB_POOL_SIZE
  value: {{ .Values.database.pool.size | quote }}
- name: TUNELOOP_DB_MAX_OVERFLOW
  value: {{ .Values.database.pool.maxOverflow | quote }}
{{ include "tuneloop.storageEnv" . }}
{{- if .Values.auth.existingSecret }}
- name: TUNELOOP_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.secretKey }}
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: TUNELOOP_TLS_CERT_FILE
  value: /etc/tuneloop/tls/tls.crt
- name: TUNELOOP_TLS_KEY_FILE
  value: /etc/tuneloop/tls/tls.key
- name: TUNELOOP_TLS_CA_FILE
  value: /etc/tuneloop/tls/ca.crt
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* a Prometheus duration (30m, 6h, 7d, 1w) in seconds, for comparisons in PromQL */}}
{{- define "tuneloop.seconds" -}}
{{- $d := toString . -}}
{{- $n := int (trimSuffix "s" (trimSuffix "m" (trimSuffix "h" (trimSuffix "d" (trimSuffix "w" $d))))) -}}
{{- if hasSuffix "w" $d -}}{{ mul $n 604800 }}
{{- else if hasSuffix "d" $d -}}{{ mul $n 86400 }}
{{- else if hasSuffix "h" $d -}}{{ mul $n 3600 }}
{{- else if hasSuffix "m" $d -}}{{ mul $n 60 }}
{{- else -}}{{ $n }}
{{- end -}}
{{- end -}}

{{/* where artifacts, checkpoints and TensorBoard logs live, and the S3 credentials: every
     service and every Ray pod gets the same (Ray workers write checkpoints themselves) */}}
{{- define "tuneloop.storageEnv" -}}
- name: TUNELOOP_ARTIFACT_URL
  value: {{ .Values.artifacts.url | quote }}
{{- if .Values.artifacts.s3.existingSecret }}
- name: TUNELOOP_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ .Values.artifacts.s3.existingSecret }}, key: AWS_ACCESS_KEY_ID}
- name: TUNELOOP_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.artifacts.s3.existingSecret }}, key: AWS_SECRET_ACCESS_KEY}
{{- end }}
{{- with .Values.artifacts.s3.endpoint }}
- name: TUNELOOP_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.artifacts.s3.region }}
- name: TUNELOOP_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- if ne .Values.artifacts.s3.pathStyle nil }}
- name: TUNELOOP_S3_PATH_STYLE
  value: {{ .Values.artifacts.s3.pathStyle | quote }}
{{- end }}
{{- end -}}

{{/* the Ray version of the image and of the RayCluster: one source, Chart.yaml's annotation,
     which the Dockerfile installs too */}}
{{- define "tuneloop.rayVersion" -}}
{{- index .Chart.Annotations "tuneloop.dev/ray-version" -}}
{{- end -}}

{{/* the trainer's own environment: where and how it runs training jobs */}}
{{- define "tuneloop.trainerEnv" -}}
- name: TUNELOOP_TRAINER_RAY_PYTHON
  value: /opt/venv/bin/python  # the image's: the Ray job's driver runs in a Ray pod of the same image
{{- with include "tuneloop.rayAddress" . }}
- name: TUNELOOP_RAY_ADDRESS
  value: {{ . | quote }}
{{- end }}
{{- if and (eq .Values.ray.mode "kuberay") .Values.ray.auth.enabled }}
{{ include "tuneloop.rayAuthEnv" . }}
{{- end }}
{{- if eq .Values.ray.mode "rayjob" }}
- name: TUNELOOP_TRAINER_BACKEND
  value: rayjob
- name: TUNELOOP_RAYJOB_TEMPLATE
  value: /etc/tuneloop/rayjob/rayjob.yaml
- name: TUNELOOP_RAYJOB_SUBMISSION_MODE
  value: {{ .Values.ray.rayjob.submissionMode | quote }}
- name: TUNELOOP_RAYJOB_TTL_SECONDS
  value: {{ .Values.ray.rayjob.ttlSecondsAfterFinished | quote }}
- name: TUNELOOP_RAYJOB_AUTH
  value: {{ .Values.ray.auth.enabled | quote }}
{{- if .Values.ray.rayjob.activeDeadlineSeconds }}
- name: TUNELOOP_RAYJOB_ACTIVE_DEADLINE_SECONDS
  value: {{ .Values.ray.rayjob.activeDeadlineSeconds | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Ray's token authentication, from the chart's Secret (the RayCluster's pods and the trainer) */}}
{{- define "tuneloop.rayAuthEnv" -}}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.ray.auth.existingSecret }}, key: {{ .Values.ray.auth.secretKey }}}
{{- end -}}
