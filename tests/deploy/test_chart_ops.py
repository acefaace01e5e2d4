"""What an operator expects of the chart beyond rendering (issue 14): placement values per
component and per Ray group reach the pods, migrations run once in a hook Job, `helm test`
checks every service, NetworkPolicies let only the callers in, Ray runs with token auth and
probes that need no wget, the rayjob mode gets its RBAC, and the schema covers every value."""

from __future__ import annotations

import json

import yaml
from deploytools import (
    CHART,
    RAYJOB_VALUES,
    by_kind,
    container_env,
    deployment,
    helm_template,
    ray_cluster_spec,
    ray_pods,
)

PLACED = ("--set", "services.registry.nodeSelector.pool=services",
          "--set", "services.registry.tolerations[0].key=dedicated",
          "--set", "services.registry.tolerations[0].operator=Exists",
          "--set", "services.registry.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1",
          "--set", "services.registry.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
                   ".preference.matchExpressions[0].key=zone",
          "--set", "services.registry.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
                   ".preference.matchExpressions[0].operator=Exists",
          "--set", "services.registry.topologySpreadConstraints[0].maxSkew=1",
          "--set", "services.registry.topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
          "--set", "services.registry.topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
          "--set", "services.registry.priorityClassName=high",
          "--set", "services.registry.podLabels.team=ml",
          "--set", "services.registry.podAnnotations.note=x",
          "--set", "podAnnotations.global=y",
          "--set", "services.registry.extraEnv[0].name=TUNELOOP_WORKERS",
          "--set-string", "services.registry.extraEnv[0].value=16",
          "--set", "services.registry.envFrom[0].secretRef.name=registry-extra",
          "--set", "services.registry.extraVolumes[0].name=certs",
          "--set", "services.registry.extraVolumes[0].secret.secretName=certs",
          "--set", "services.registry.extraVolumeMounts[0].name=certs",
          "--set", "services.registry.extraVolumeMounts[0].mountPath=/certs",
          "--set", "ray.cpuWorkers.nodeSelector.pool=ray",
          "--set", "ray.cpuWorkers.priorityClassName=batch",
          "--set", "ray.cpuWorkers.podLabels.team=ml",
          "--set", "ray.cpuWorkers.extraEnv[0].name=EXTRA",
          "--set-string", "ray.cpuWorkers.extraEnv[0].value=1",
          "--set", "ray.head.tolerations[0].key=head",
          "--set", "ray.head.tolerations[0].operator=Exists")


def test_placement_values_reach_the_pods_of_their_component_only():
    objects = helm_template(*PLACED)
    pod = deployment(objects, "registry")["spec"]["template"]
    spec, (container,) = pod["spec"], pod["spec"]["containers"]
    assert spec["nodeSelector"] == {"pool": "services"} and spec["tolerations"][0]["key"] == "dedicated"
    assert spec["affinity"]["nodeAffinity"] and spec["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert spec["priorityClassName"] == "high" and pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"] == {"note": "x", "global": "y"}
    assert container_env(deployment(objects, "registry"))["TUNELOOP_WORKERS"]["value"] == "16"
    assert container["envFrom"] == [{"secretRef": {"name": "registry-extra"}}]
    assert {"name": "certs", "mountPath": "/certs"} in container["volumeMounts"]
    assert {"name": "certs", "secret": {"secretName": "certs"}} in spec["volumes"]
    other = deployment(objects, "dataprep")["spec"]["template"]
    assert "nodeSelector" not in other["spec"] and "priorityClassName" not in other["spec"]
    assert other["metadata"]["annotations"] == {"global": "y"}
    head, cpu, gpu = ray_pods(ray_cluster_spec(objects))
    assert cpu["spec"]["nodeSelector"] == {"pool": "ray"} and cpu["spec"]["priorityClassName"] == "batch"
    assert cpu["metadata"]["labels"]["team"] == "ml"
    assert {"name": "EXTRA", "value": "1"} in cpu["spec"]["containers"][0]["env"]
    assert head["spec"]["tolerations"] == [{"key": "head", "operator": "Exists"}]
    assert gpu["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu", "GPU workers keep their own default"


def test_migrations_run_once_in_a_hook_job_before_any_pod_and_pods_only_check():
    objects = helm_template()
    (job,) = by_kind(objects, "Job")
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in notes["helm.sh/hook-delete-policy"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"] and not container["image"].split(":")[0].endswith("-ml")
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "tuneloop-database"
    assert "serviceAccountName" not in job["spec"]["template"]["spec"], "a pre-install hook runs before the chart's SA"
    for name in ("dataprep", "registry", "trainer", "evaluator", "controller"):
        env = container_env(deployment(objects, name))
        assert env["TUNELOOP_DB_MIGRATE"]["value"] == "false", name
        assert env["TUNELOOP_DB_POOL_SIZE"]["value"] == "5"


def test_helm_test_checks_the_health_of_every_enabled_service():
    objects = helm_template("--set", "services.evaluator.enabled=false", "--set", "auth.existingSecret=tok")
    (pod,) = by_kind(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["health", "controller", "dataprep", "registry", "serving", "trainer"]
    env = {e["name"]: e for e in container["env"]}
    assert env["TUNELOOP_REGISTRY_ADDRESS"]["value"] == "rel-tuneloop-registry:50051"
    assert env["TUNELOOP_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tok"


def _policy(objects: list[dict], component: str) -> dict:
    return next(p for p in by_kind(objects, "NetworkPolicy")
                if p["metadata"]["labels"]["app.kubernetes.io/component"] == component)


def _sources(rule: dict) -> list[str]:
    return [peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
            or ("ray" if "tuneloop.dev/ray" in peer.get("podSelector", {}).get("matchLabels", {}) else json.dumps(peer))
            for peer in rule.get("from", [])]


def test_network_policies_let_in_only_the_callers_and_only_the_trainer_reaches_rays_job_ports():
    clients = ("--set", "networkPolicy.clientsFrom[0].namespaceSelector.matchLabels.team=ml")
    objects = helm_template(*clients)
    grpc = {name: next(r for r in _policy(objects, name)["spec"]["ingress"] if r["ports"][0]["port"] == "grpc")
            for name in ("dataprep", "registry", "trainer", "evaluator", "controller", "serving")}
    peer = json.dumps({"namespaceSelector": {"matchLabels": {"team": "ml"}}})
    assert _sources(grpc["dataprep"]) == ["trainer", "evaluator", "controller", "test", "ray", peer]
    assert _sources(grpc["registry"]) == ["trainer", "evaluator", "controller", "serving", "test", "ray", peer]
    assert _sources(grpc["serving"]) == ["test", peer], "serving answers the clients a team names"
    assert _sources(grpc["trainer"]) == _sources(grpc["evaluator"]) == ["controller", "test", peer]
    assert _sources(grpc["controller"]) == ["test", peer]
    ray = _policy(objects, "ray")["spec"]
    assert ray["podSelector"]["matchLabels"]["tuneloop.dev/ray"] == "true"
    by_port = {tuple(p["port"] for p in r.get("ports", [])): r for r in ray["ingress"]}
    assert _sources(by_port[(8265, 10001)]) == ["trainer"], "only the trainer reaches the job and client ports"
    assert _sources(by_port[()]) == ["ray"], "Ray's own ports: only Ray pods"
    head, *workers = ray_pods(ray_cluster_spec(objects))
    assert all(p["metadata"]["labels"]["tuneloop.dev/ray"] == "true" for p in (head, *workers))
    assert by_kind(helm_template("--set", "networkPolicy.enabled=false"), "NetworkPolicy") == []


def test_ray_runs_with_token_auth_and_probes_and_a_command_any_kuberay_from_1_1_keeps():
    objects = helm_template()
    (cluster,) = by_kind(objects, "RayCluster")
    assert cluster["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    secret = {"name": "tuneloop-ray-token", "key": "auth_token"}
    for pod in ray_pods(cluster["spec"]):
        (container,) = pod["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == secret
        assert container["command"][:3] == ["dumb-init", "--", "/bin/bash"] and "-l" not in container["command"]
        for probe in ("readinessProbe", "livenessProbe"):  # set: KubeRay injects none (its own call wget)
            assert set(container[probe]) >= {"httpGet"} and "exec" not in container[probe]
    autoscaler = {e["name"]: e for e in cluster["spec"]["autoscalerOptions"]["env"]}
    assert autoscaler["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == secret
    trainer = container_env(deployment(objects, "trainer"))
    assert trainer["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == secret, "the trainer calls the Jobs API"
    assert "RAY_AUTH_TOKEN" not in container_env(deployment(objects, "registry"))


def test_rayjob_mode_gives_the_trainer_alone_an_api_token_and_a_role_on_rayjobs():
    objects = helm_template("-f", str(RAYJOB_VALUES))
    (role,) = by_kind(objects, "Role")
    assert role["rules"] == [{"apiGroups": ["ray.io"], "resources": ["rayjobs"],
                              "verbs": ["create", "get", "list", "watch", "delete"]}]
    (binding,) = by_kind(objects, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "rel-tuneloop-trainer"
    assert binding["subjects"][0]["name"] == "rel-tuneloop-trainer"
    for dep in by_kind(objects, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        trainer = dep["metadata"]["labels"]["app.kubernetes.io/component"] == "trainer"
        assert pod["automountServiceAccountToken"] is trainer
        assert (pod["serviceAccountName"] == "rel-tuneloop-trainer") is trainer
    spec = ray_cluster_spec(objects)
    assert "RAY_AUTH_TOKEN" not in {e["name"] for p in ray_pods(spec) for e in p["spec"]["containers"][0]["env"]}
    assert by_kind(objects, "RayCluster") == [] and "TUNELOOP_RAY_ADDRESS" not in container_env(
        deployment(objects, "trainer"))


def _schema_has(schema: dict, path: list[str]) -> bool:
    node = schema
    for key in path:
        if node.get("type") != "object" or node.get("additionalProperties", True) is not False:
            return True  # an open map (labels, resources): anything under it is the map's
        if key not in node.get("properties", {}):
            return False
        node = node["properties"][key]
    return True


def _paths(values: dict, prefix: tuple = ()):
    for key, value in values.items():
        yield [*prefix, key]
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def test_the_schema_covers_every_value_and_closes_every_object():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [".".join(p) for p in _paths(values) if not _schema_has(schema, p)]
    assert not missing, f"values the schema does not declare: {missing}"
    open_objects = []

    def walk(node: dict, where: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            if node.get("additionalProperties") is not False:
                open_objects.append(where)
            for key, child in node["properties"].items():
                walk(child, f"{where}.{key}")

    walk(schema, "")
    assert not open_objects, f"objects that accept unknown keys: {open_objects}"
