"""deploy/k8s: both kustomizations render, every object validates against the Kubernetes
schemas (offline, strict), and the objects fit together (selectors, probes, drain window,
autoscaling, disruption budget, secrets, scraping)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from adstack_config import ConfigError
from adstack_config.catalog import SETTINGS
from adstack_gateway.node import origin_allowed
from adstack_gateway.settings import GatewaySettings
from adstack_ingester.settings import IngesterSettings
from tests.helpers.deploy import DEPLOY, require_tool
from tests.helpers.kustomize import render
from tests.helpers.requires import unavailable

pytestmark = pytest.mark.deploy

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"
"""Oldest Kubernetes we support; the manifests must validate against its schemas."""


def objects(path: Path = K8S) -> list[dict[str, Any]]:
    return render(path)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("path", [K8S, K8S / "dev", K8S / "ingress"],
                         ids=["base", "dev", "ingress"])
@pytest.mark.parametrize("version", [KUBERNETES_VERSION, kubernetes_validate.latest_version()])
def test_every_object_validates_against_the_kubernetes_schema(path: Path,
                                                              version: str) -> None:
    docs = objects(path)
    assert docs
    for doc in docs:
        # strict: unknown fields are errors too (a typo is not silently dropped).
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_has_teeth() -> None:
    deployment = find(objects(), "Deployment", "adstack-gateway")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = find(objects(), "Deployment", "adstack-gateway")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", [K8S, K8S / "dev", K8S / "ingress"],
                         ids=["base", "dev", "ingress"])
def test_offline_render_matches_kubectl_kustomize(path: Path) -> None:
    """Our renderer agrees with the real kustomize (kubectl's, skipped only off CI)."""
    kubectl = require_tool("kubectl")
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    if result.returncode != 0 and "kustomize" in result.stderr and "unknown" in result.stderr:
        unavailable(f"this kubectl has no kustomize: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    theirs = [d for d in yaml.safe_load_all(result.stdout) if d]

    def key(doc: dict[str, Any]) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    assert sorted(theirs, key=key) == sorted(objects(path), key=key)


def test_everything_lives_in_the_adstack_namespace() -> None:
    docs = objects()
    find(docs, "Namespace", "adstack")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "adstack", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "adstack-realtime"


def test_redis_only_in_the_dev_overlay() -> None:
    assert not [d for d in objects() if "redis" in d["metadata"]["name"]]
    dev = objects(K8S / "dev")
    redis = find(dev, "Deployment", "adstack-redis")
    assert redis["metadata"]["labels"]["adstack.io/dev-only"] == "true"
    service = find(dev, "Service", "adstack-redis")
    secret = find(dev, "Secret", "adstack-secrets")
    assert f"redis://{service['metadata']['name']}:6379" in secret["stringData"]["REDIS_URL"]


def test_services_select_the_pods_of_their_deployment() -> None:
    docs = objects(K8S / "dev")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        targets = [d for d in deployments
                   if labels_match(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert len(targets) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in pod_spec(targets[0])["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]
    for deployment in deployments:
        assert labels_match(deployment["spec"]["selector"]["matchLabels"],
                            deployment["spec"]["template"]["metadata"]["labels"])


def test_ingester_two_replicas_readiness_is_leadership() -> None:
    ingester = find(objects(), "Deployment", "adstack-ingester")
    assert ingester["spec"]["replicas"] == 2
    container = pod_spec(ingester)["containers"][0]
    assert container["command"] == ["adstack-ingester"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    # A standby is never Ready: the rollout must be allowed to replace every old pod.
    assert ingester["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "100%"
    # The node's POSTs go through the Service, i.e. to Ready pods (the leader) only.
    service = find(objects(), "Service", "adstack-ingester")
    assert not service["spec"].get("publishNotReadyAddresses", False)


def test_gateway_grace_period_outlasts_prestop_and_drain() -> None:
    docs = objects()
    gateway = find(docs, "Deployment", "adstack-gateway")
    spec = pod_spec(gateway)
    container = spec["containers"][0]
    assert container["command"] == ["adstack-gateway"]
    pre_stop = container["lifecycle"]["preStop"]
    sleep = int(pre_stop["exec"]["command"][1]) if "exec" in pre_stop else int(
        pre_stop["sleep"]["seconds"])
    drain = int(find(docs, "ConfigMap", "adstack-config")["data"].get("DRAIN_SECONDS", "10"))
    assert spec["terminationGracePeriodSeconds"] >= sleep + drain + 5
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_gateway_autoscaler_and_disruption_budget_target_the_gateways() -> None:
    docs = objects()
    gateway = find(docs, "Deployment", "adstack-gateway")
    hpa = find(docs, "HorizontalPodAutoscaler", "adstack-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": "adstack-gateway"}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > 2
    pdb = find(docs, "PodDisruptionBudget", "adstack-gateway")
    assert labels_match(pdb["spec"]["selector"]["matchLabels"],
                        gateway["spec"]["template"]["metadata"]["labels"])
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def test_pods_are_hardened_and_sized() -> None:
    for deployment in (d for d in objects(K8S / "dev") if d["kind"] == "Deployment"):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"]
            assert resources["limits"]["memory"]
            assert container["livenessProbe"] and container["readinessProbe"]


def test_config_and_secret_are_wired_and_secrets_are_placeholders() -> None:
    docs = objects()
    config = find(docs, "ConfigMap", "adstack-config")
    secret = find(docs, "Secret", "adstack-secrets")
    assert "JWT_SECRET" not in config["data"] and "REDIS_URL" not in config["data"]
    assert set(secret["stringData"]) == {"REDIS_URL", "JWT_SECRET"}
    assert "CHANGE-ME" in secret["stringData"]["JWT_SECRET"]
    for name in ("adstack-ingester", "adstack-gateway"):
        container = pod_spec(find(docs, "Deployment", name))["containers"][0]
        refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
        assert refs == ["adstack-config", "adstack-secrets"]


@pytest.mark.parametrize("path", [K8S, K8S / "dev"], ids=["base", "dev"])
def test_the_production_ingester_gets_its_observer_token_from_a_secret(path: Path) -> None:
    """NODE_ENV=production makes the ingester refuse to start without OBSERVER_TOKEN: the
    manifests give it one, from a Secret only the ingester pods read."""
    docs = objects(path)
    config = find(docs, "ConfigMap", "adstack-config")["data"]
    assert config["NODE_ENV"] == "production"
    assert "OBSERVER_TOKEN" not in config and "OBSERVER_TOKEN_REQUIRED" not in config
    ingester = pod_spec(find(docs, "Deployment", "adstack-ingester"))["containers"][0]
    [ref] = [e["valueFrom"]["secretKeyRef"] for e in ingester["env"]
             if e["name"] == "OBSERVER_TOKEN"]
    secret = find(docs, "Secret", ref["name"])
    assert "CHANGE-ME" in secret["stringData"][ref["key"]]
    gateway = pod_spec(find(docs, "Deployment", "adstack-gateway"))["containers"][0]
    assert ref["name"] not in [next(iter(r.values()))["name"] for r in gateway["envFrom"]]
    assert "OBSERVER_TOKEN" not in [e["name"] for e in gateway.get("env", [])]
    # What the ingester process would read: the shipped placeholder is refused until it is
    # replaced; then it starts with the token, and not without it.
    shared = {**config, **find(docs, "Secret", "adstack-secrets")["stringData"]}
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN is a placeholder"):
        IngesterSettings.from_env({**shared,
                                   "OBSERVER_TOKEN": secret["stringData"][ref["key"]]})
    IngesterSettings.from_env({**shared, "OBSERVER_TOKEN": secrets.token_hex(32)})
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN"):
        IngesterSettings.from_env(shared)


def test_the_production_gateway_refuses_the_placeholder_secret_until_replaced() -> None:
    docs = objects()
    shared = {**find(docs, "ConfigMap", "adstack-config")["data"],
              **find(docs, "Secret", "adstack-secrets")["stringData"]}
    with pytest.raises(ConfigError, match="JWT_SECRET is a placeholder"):
        GatewaySettings.from_env(shared)
    settings = GatewaySettings.from_env({**shared, "JWT_SECRET": secrets.token_hex(32)})
    assert settings.production and settings.warnings == ()


def test_gateways_trust_forwarded_addresses_from_the_cluster_network_only() -> None:
    """Behind the ingress every client would otherwise share the ingress controller's
    address (and MAX_CONNECTIONS_PER_IP); trusting everyone would let clients pick theirs."""
    docs = objects()
    gateway = pod_spec(find(docs, "Deployment", "adstack-gateway"))["containers"][0]
    [raw] = [e["value"] for e in gateway["env"] if e["name"] == "FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(part.strip()) for part in raw.split(",")]
    assert networks and all(n.is_private for n in networks), raw
    for public in ("8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"):
        address = ipaddress.ip_address(public)
        assert not any(address.version == n.version and address in n for n in networks)
    assert ipaddress.ip_address("10.244.1.7") in networks[0]  # a typical pod address
    config = find(docs, "ConfigMap", "adstack-config")["data"]
    assert "FORWARDED_ALLOW_IPS" not in config  # the gateways', not the ingester's


def test_allowed_origins_are_a_placeholder_not_everyone() -> None:
    config = find(objects(), "ConfigMap", "adstack-config")["data"]
    settings = GatewaySettings.from_env({**config, "JWT_SECRET": secrets.token_hex(32)})
    assert settings.allowed_origins == ("https://app.example.com",)  # operators edit it
    assert origin_allowed("https://app.example.com", settings.allowed_origins)
    assert not origin_allowed("https://evil.example", settings.allowed_origins)
    assert origin_allowed(None, settings.allowed_origins)  # non-browser clients send none


def test_prometheus_k8s_config_scrapes_headless_services_that_exist() -> None:
    docs = objects()
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text())
    for job in config["scrape_configs"]:
        for sd in job["dns_sd_configs"]:
            for name in sd["names"]:
                service_name, namespace = name.split(".")[:2]
                service = find(docs, "Service", service_name)
                assert namespace == service["metadata"]["namespace"]
                assert service["spec"]["clusterIP"] == "None"
                assert service["spec"]["publishNotReadyAddresses"] is True
                assert sd["port"] in {p["port"] for p in service["spec"]["ports"]}
                assert job["job_name"] == service["metadata"]["labels"][
                    "app.kubernetes.io/name"]


def test_ingress_reaches_every_frontend_path_with_long_timeouts_and_cookie_affinity() -> None:
    docs = objects(K8S / "ingress")
    ingress = find(docs, "Ingress", "adstack-gateway")
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(notes[prefix + timeout]) >= 3600, timeout  # ≫ the gateway's 25 s pings
    assert notes[prefix + "proxy-buffering"] == "off"  # SSE
    assert notes[prefix + "affinity"] == "cookie"  # Socket.IO long-polling
    assert notes[prefix + "session-cookie-name"]
    service = find(docs, "Service", "adstack-gateway")
    port_names = {p["name"] for p in service["spec"]["ports"]}
    paths = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "adstack-gateway" and backend["port"]["name"] in port_names
            paths[path["path"]] = path["pathType"]
    assert paths == {"/ws": "Exact", "/socket.io": "Prefix", "/sse": "Exact",
                     "/static": "Prefix", "/dashboard": "Exact", "/": "Exact"}
    assert "/metrics" not in paths and "/status" not in paths
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert not [d for d in objects() if d["kind"] == "Ingress"], "an example, not the default"


def test_dev_overlay_mints_a_token_with_the_gateways_settings(tmp_path: Path) -> None:
    """The dev overlay's Job runs adstack-token with the gateways' ConfigMap and Secret; run
    with that environment (a real secret in place of the placeholder), the command prints a
    token those settings accept."""
    import jwt as pyjwt

    dev = objects(K8S / "dev")
    assert not [d for d in objects() if d["kind"] == "Job"], "the token Job is dev-only"
    job = find(dev, "Job", "adstack-dev-token")
    assert job["metadata"]["labels"]["adstack.io/dev-only"] == "true"
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and spec["securityContext"]["runAsNonRoot"]
    container = spec["containers"][0]
    gateway = pod_spec(find(dev, "Deployment", "adstack-gateway"))["containers"][0]
    assert container["envFrom"] == gateway["envFrom"]
    assert container["image"] == gateway["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    command = container["command"]
    assert command[0] == "adstack-token"
    config = find(dev, "ConfigMap", "adstack-config")["data"]
    secret = dict(find(dev, "Secret", "adstack-secrets")["stringData"])
    secret["JWT_SECRET"] = "a-real-secret-set-by-the-operator-0123456789"
    env = {"PATH": os.environ["PATH"], **config, **secret}
    result = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    claims = pyjwt.decode(result.stdout.strip(), secret["JWT_SECRET"], algorithms=["HS256"])
    assert claims["userId"] == "dev-user" and claims["exp"] - claims["iat"] == 24 * 3600


def test_every_variable_the_services_get_is_a_declared_setting() -> None:
    declared = {name for s in SETTINGS for name in (s.name, *s.aliases)}
    docs = objects()
    names = set(find(docs, "ConfigMap", "adstack-config")["data"])
    names |= set(find(docs, "Secret", "adstack-secrets")["stringData"])
    for deployment in ("adstack-ingester", "adstack-gateway"):
        container = pod_spec(find(docs, "Deployment", deployment))["containers"][0]
        names |= {e["name"] for e in container.get("env", [])}
    # POD_NAME (downward API) is set on the ingester but read by nothing: INGESTER_ID
    # defaults to host:pid, and a pod's hostname is its name. Left as it is.
    assert names - {"POD_NAME"} <= declared, names - declared
