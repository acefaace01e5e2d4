"""The Helm chart, checked by the real helm binary, the Kubernetes schemas (kubernetes-validate
--strict), KubeRay's own autoscaling-config parser in Ray, and promtool for the alert rules."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from deploytools import (
    CHART,
    CI_VALUES,
    MONITORING_ON,
    RAYJOB_VALUES,
    builtin,
    by_kind,
    container_env,
    deployment,
    helm_template,
    ray_cluster_spec,
    ray_pods,
    run,
    tool,
)
from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

VARIANTS = {"defaults": (), "gpu-postgres-s3": ("-f", str(CI_VALUES)), "rayjob": ("-f", str(RAYJOB_VALUES))}
SERVICES = {"dataprep", "registry", "trainer", "evaluator", "controller", "serving"}
K8S_VERSION = "1.33"
POD_FIELDS = {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName", "podLabels",
              "podAnnotations", "extraEnv", "envFrom", "extraVolumes", "extraVolumeMounts"}


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(request):
    return request.param, helm_template(*VARIANTS[request.param])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_helm_lint_passes(variant):
    # lint cannot announce the monitoring CRDs (no --api-versions): it renders without the check
    result = run(tool("helm"), "lint", "--strict", str(CHART), *VARIANTS[variant], "--set", "monitoring.checkCRDs=false",
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_builtin_object_passes_the_strict_kubernetes_schema(rendered):
    _, objects = rendered
    checked = builtin(objects)
    assert {o["kind"] for o in checked} >= {"Deployment", "Service", "PodDisruptionBudget", "ServiceAccount",
                                             "ConfigMap", "NetworkPolicy", "Job", "Pod"}
    for obj in checked:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)  # raises on the first error


def test_a_deployment_and_a_service_per_service_with_grpc_probes_and_a_locked_down_pod(rendered):
    variant, objects = rendered
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind(objects, "Deployment")}
    services = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in by_kind(objects, "Service")}
    assert set(deployments) == set(services) == SERVICES
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in by_kind(objects, "PodDisruptionBudget")} \
        == SERVICES
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name]
        ml = container["image"].split(":")[0].endswith("-ml")
        assert ml == (name in ("trainer", "evaluator", "serving")), (name, container["image"])  # torch only there
        assert services[name]["spec"]["clusterIP"] == "None", "headless: clients balance over the pods"
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": 50051, "metrics": 9090}
        assert {p["name"] for p in services[name]["spec"]["ports"]} == {"grpc", "metrics"}
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/data", "/tmp"} <= mounts, "a read-only root needs writable /data and /tmp"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if variant != "gpu-postgres-s3":
                assert container[probe]["grpc"]["port"] == 50051, (name, probe)
            else:  # TLS on: kubelet's gRPC probe cannot speak it
                assert container[probe]["tcpSocket"]["port"] == "grpc", (name, probe)
        env = container_env(dep)
        assert "secretKeyRef" in env["TUNELOOP_DATABASE_URL"]["valueFrom"]
        assert env["TUNELOOP_REGISTRY_ADDRESS"]["value"] == "rel-tuneloop-registry:50051"
    assert deployments["controller"]["spec"]["replicas"] >= 2, "the controller runs replicated (leader lease)"
    assert deployments["trainer"]["spec"]["replicas"] == 1
    assert deployments["trainer"]["spec"]["strategy"]["type"] == "Recreate"


def test_serving_scales_with_an_hpa_that_owns_its_replica_count(rendered):
    _, objects = rendered
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler")
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind(objects, "Deployment")}
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployments["serving"]["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 4
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert "replicas" not in deployments["serving"]["spec"], "the HPA, not the Deployment, sets serving's count"
    assert "replicas" in deployments["evaluator"]["spec"], "services without autoscaling keep their own count"
    kubernetes_validate.validate(hpa, K8S_VERSION, strict=True)
    fixed = helm_template("--set", "services.serving.autoscaling.enabled=false", "--set", "services.serving.replicas=3")
    assert not by_kind(fixed, "HorizontalPodAutoscaler")
    assert [d["spec"]["replicas"] for d in by_kind(fixed, "Deployment")
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "serving"] == [3]


def test_production_values_wire_postgres_s3_auth_and_tls_from_secrets():
    objects = helm_template("-f", str(CI_VALUES))
    dep = deployment(objects, "registry")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = container_env(dep)
    assert env["TUNELOOP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "tuneloop-postgres", "key": "url"}
    assert env["TUNELOOP_ARTIFACT_URL"]["value"] == "s3://ml-artifacts/tuneloop"
    assert env["TUNELOOP_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "tuneloop-s3"
    assert env["TUNELOOP_S3_ENDPOINT_URL"]["value"] == "http://minio.storage.svc:9000"
    assert env["TUNELOOP_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tuneloop-auth"
    assert env["TUNELOOP_TLS_CERT_FILE"]["value"].startswith("/etc/tuneloop/tls/")
    assert by_kind(objects, "PersistentVolumeClaim") == [], "artifacts live in S3: no volume"
    assert container["image"] == "registry.example.com/ml/tuneloop:0.1.0"


def test_the_raycluster_parses_with_kuberays_autoscaling_config_parser(rendered):
    variant, objects = rendered
    if variant == "rayjob":
        assert by_kind(objects, "RayCluster") == [], "each job gets its own cluster"
        return
    (cluster,) = by_kind(objects, "RayCluster")
    config = _derive_autoscaling_config_from_ray_cr(cluster)
    types = config["available_node_types"]
    assert set(types) == {"headgroup", "cpu", "gpu"}
    assert types["headgroup"]["resources"]["CPU"] == 0, "the head trains nothing"
    values = yaml.safe_load(CI_VALUES.read_text()) if variant != "defaults" else {}
    gpus = values.get("ray", {}).get("gpuWorkers", {}).get("gpusPerWorker", 1)
    max_gpu = values.get("ray", {}).get("gpuWorkers", {}).get("maxReplicas", 0)
    assert types["gpu"]["resources"]["GPU"] == gpus and types["gpu"]["max_workers"] == max_gpu
    gpu_group = cluster["spec"]["workerGroupSpecs"][1]
    limits = gpu_group["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == gpus
    env = container_env(deployment(objects, "trainer"))
    assert env["TUNELOOP_RAY_ADDRESS"]["value"] == f"http://{cluster['metadata']['name']}-head-svc:8265"
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert cluster["spec"]["rayVersion"] == chart["annotations"]["tuneloop.dev/ray-version"]


def test_ray_pods_get_the_image_the_storage_and_its_credentials_like_the_services(rendered):
    """Ray workers on other nodes write checkpoints and fetch inputs themselves: every Ray pod
    needs what the trainer has (the image, the storage URL and settings, the credentials)."""
    _, objects = rendered
    spec = ray_cluster_spec(objects)
    trainer = deployment(objects, "trainer")
    service_env = container_env(trainer)
    storage = [k for k in service_env if k == "TUNELOOP_ARTIFACT_URL" or k.startswith("TUNELOOP_S3_")]
    assert "TUNELOOP_S3_ACCESS_KEY_ID" in storage
    for pod in ray_pods(spec):
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert {k: env[k] for k in storage} == {k: service_env[k] for k in storage}
        image = trainer["spec"]["template"]["spec"]["containers"][0]["image"]
        assert container["image"].split(":")[0] == image.split(":")[0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_readwritemany_volume_instead_of_s3_is_mounted_wherever_artifacts_are_written():
    objects = helm_template("--set", "artifacts.url=/artifacts", "--set", "artifacts.persistence.enabled=true")
    (claim,) = by_kind(objects, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]

    def mounts(template: dict) -> list[str]:
        return [m["mountPath"] for m in template["spec"]["containers"][0]["volumeMounts"]]

    for name in ("dataprep", "registry", "trainer"):
        assert "/artifacts" in mounts(deployment(objects, name)["spec"]["template"]), name
    for name in ("evaluator", "controller"):
        assert "/artifacts" not in mounts(deployment(objects, name)["spec"]["template"]), name
    (cluster,) = by_kind(objects, "RayCluster")
    assert all("/artifacts" in mounts(pod) for pod in ray_pods(cluster["spec"]))
    assert "TUNELOOP_S3_ACCESS_KEY_ID" not in container_env(deployment(helm_template(
        "--set", "artifacts.url=/artifacts", "--set", "artifacts.persistence.enabled=true",
        "--set", "artifacts.s3.existingSecret="), "trainer"))


def test_external_and_local_ray_deploy_no_raycluster():
    external = helm_template("--set", "ray.mode=external", "--set", "ray.address=http://head.ray:8265")
    assert by_kind(external, "RayCluster") == []
    assert container_env(deployment(external, "trainer"))["TUNELOOP_RAY_ADDRESS"]["value"] == "http://head.ray:8265"
    local = helm_template("--set", "ray.mode=local", "--set", "services.trainer.gpu=1", "--set", "image.gpuTag=0.1.0-cuda")
    assert by_kind(local, "RayCluster") == []
    trainer = deployment(local, "trainer")
    (container,) = trainer["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"] == "ghcr.io/tuneloop/tuneloop-ml:0.1.0-cuda", "a GPU trainer gets the CUDA image"


@pytest.mark.parametrize("args, message", [
    (("--set", "services.trainer.replicas=2"), "/services/trainer/replicas"),
    (("--set", "ray.mode=kubernetes"), "/ray/mode"),
    (("--set", "monitoring.prometheusRule.errorRatio=2"), "errorRatio"),
    (("--set", "monitoring.prometheusRule.noRetrainWindow=a week"), "noRetrainWindow"),
    (("--set", "servics.dataprep.replicas=2"), "servics"),
    (("--set", "database.existingSecret="), "/database/existingSecret"),
    (("--set", "artifacts.persistence.enabled=true"), "set artifacts.persistence.enabled=false"),
    (("--set", "artifacts.url=/artifacts"), "enable artifacts.persistence"),
    (("--set", "ray.mode=external", "--set", "ray.address=ray://head:10001"), "/ray/address"),
    (("--set", "ray.mode=external"), "ray.mode=external needs ray.address"),
    (("--set", "services.trainer.gpu=1"), "only applies to ray.mode=local"),
    (("--set", "ray.mode=local", "--set", "services.trainer.gpu=1", "--set", "image.gpuTag="), "needs image.gpuTag"),
    (("--set", "ray.gpuWorkers.maxReplicas=2"), "ray.gpuWorkers (maxReplicas or replicas > 0) needs image.gpuTag"),
    (("--set", "ray.mode=rayjob", "--set", "ray.gpuWorkers.maxReplicas=2"), "needs image.gpuTag"),
    (("--set", "image.gpuTag=x", "--set", "ray.gpuWorkers.replicas=3", "--set", "ray.gpuWorkers.maxReplicas=2"),
     "ray.gpuWorkers.replicas (3) is more than ray.gpuWorkers.maxReplicas (2)"),
    (("--set", "services.controller.replicas=20"), "database.pool.size 5 + database.pool.maxOverflow 5"),
    (("--set", "database.maxConnections=50"), "more than database.maxConnections 50"),
    (("--set", "monitoring.podMonitor.enabled=true", "--set", "monitoring.checkCRDs=true"),
     "monitoring.podMonitor.enabled needs the PodMonitor CRD"),
    (("--set", "ray.auth.existingSecret="), "ray.auth.enabled needs ray.auth.existingSecret"),
    (("--set", "ray.mode=rayjob", "--set", "ray.rayjob.submissionMode=Sidecar"), "/ray/rayjob/submissionMode"),
    (("--set", "services.registry.topologySpreadConstraints[0].maxSkew=1"), "topologySpreadConstraints/0"),
    (("--set", "services.registry.extraEnv[0].value=x"), "/services/registry/extraEnv/0"),
    (("--set", "networkPolicy.clientsFrom[0].pods=x"), "/networkPolicy/clientsFrom/0"),
])
def test_a_wrong_value_fails_at_install_time_naming_it(args, message):
    # a cluster without the monitoring CRDs: `helm template` announces none
    result = run(tool("helm"), "template", "rel", str(CHART), *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_monitoring_objects_one_servicemonitor_per_service_and_the_dashboard_configmap():
    objects = helm_template(*MONITORING_ON)
    monitors = by_kind(objects, "ServiceMonitor")
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == SERVICES
    for monitor in monitors:
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/part-of"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert "namespaceSelector" not in monitor["spec"], "its own namespace, wherever kustomize moves it"
    (pod_monitor,) = by_kind(objects, "PodMonitor")
    assert pod_monitor["spec"]["selector"]["matchLabels"]["tuneloop.dev/ray"] == "true"
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    (dashboard,) = by_kind(objects, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART / "files" / "dashboard.json").read_text())
    assert json.loads(dashboard["data"]["tuneloop.json"]) == shipped
    off = helm_template("--set", "monitoring.serviceMonitor.enabled=false", "--set",
                        "monitoring.prometheusRule.enabled=false", "--set", "monitoring.dashboard.enabled=false")
    assert not by_kind(off, "ServiceMonitor") and not by_kind(off, "PrometheusRule") and not by_kind(off, "ConfigMap")


def rules_file(tmp_path: Path, *extra: str) -> Path:
    (rule,) = by_kind(helm_template(*MONITORING_ON, *extra), "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def test_promtool_checks_the_rendered_alert_rules(tmp_path):
    for extra in ((), ("-f", str(CI_VALUES))):
        result = run(tool("promtool"), "check", "rules", str(rules_file(tmp_path, *extra)), check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 13 rules found" in result.stdout  # 7 alerts, one absent-check per service (6)


def test_promtool_unit_tests_the_alert_logic(tmp_path):
    rules = rules_file(tmp_path)
    tests = tmp_path / "alerts_test.yaml"
    tests.write_text((Path(__file__).parent / "alerts_test.yaml").read_text())
    result = run(tool("promtool"), "test", "rules", str(tests), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rules.exists()


def test_notes_tell_how_to_connect(tmp_path):
    result = run(tool("helm"), "install", "rel", str(CHART), "--dry-run=client", "--namespace", "ml")
    notes = result.stdout[result.stdout.index("NOTES:"):]
    assert "grpcurl -plaintext localhost:50051 list" in notes
    assert "port-forward svc/rel-tuneloop-registry" in notes
    assert "create secret generic tuneloop-database" in notes
    assert "ConfigMap rel-tuneloop-dashboard" in notes
    assert "helm test rel -n ml" in notes and "rel-tuneloop-migrate" in notes


def _leaves(values: dict, prefix: str = ""):
    opaque = {"resources", "labels", "annotations", "nodeSelector", "podSecurityContext", "securityContext",
              "affinity", "podAnnotations", "podLabels"}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and key not in opaque:
            yield from _leaves(value, path)
        else:
            yield path


def test_the_chart_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []
    for path in _leaves(values):
        parts = path.split(".")
        if parts[0] == "services" and path != "services.trainer.gpu" and not path.startswith("services.serving.autoscaling"):
            path = ".".join(["services", "<name>", *parts[2:]])
        elif parts[0] == "ray" and len(parts) > 2 and parts[2] in POD_FIELDS:
            path = ".".join(["ray", "<group>", *parts[2:]])
        if f"`{path}`" not in readme:
            missing.append(path)
    assert not missing, f"values missing from helm/tuneloop/README.md: {missing}"
