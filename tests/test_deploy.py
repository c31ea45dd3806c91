"""The Dockerfile and the Kubernetes manifests agree with the application: settings that exist,
probes on real routes, one port, one user, a grace period that covers the drain, a Job that
migrates. The manifests are read as kustomize renders them (every base and overlay), so a patch
that breaks one of these fails here too. scripts/check-deploy lints and schema-checks them."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Route

from app.cli import parser
from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"

# Each service kustomization, with the migration Job applied before it.
RELEASES = {"k8s/base": "k8s/base/migrate",
            "k8s/overlays/example": "k8s/overlays/example/migrate"}
SECRET_TEMPLATE = ROOT / "k8s" / "base" / "secret.template.yaml"
# After the drain, the lifespan shutdown: background passes get up to 5 s each to end
# (app/timers/background.py), then the pools close.
SHUTDOWN_MARGIN_S = 10

Manifest = dict[str, Any]


@cache
def render(kustomization: str) -> tuple[Manifest, ...]:
    assert KUBECTL.is_file(), f"{KUBECTL} is missing: install the dev dependencies"
    out = subprocess.run([str(KUBECTL), "kustomize", str(ROOT / kustomization)],
                         check=True, capture_output=True, text=True, timeout=60)
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def one(docs: tuple[Manifest, ...], kind: str) -> Manifest:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(workload: Manifest) -> Manifest:
    return cast(Manifest, workload["spec"]["template"]["spec"])


def only_container(workload: Manifest) -> Manifest:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return cast(Manifest, containers[0])


def secret_template() -> Manifest:
    return cast(Manifest, yaml.safe_load(SECRET_TEMPLATE.read_text()))


# --- the Dockerfile's runtime stage ---------------------------------------------------------

def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    parsed = [[*line.split(None, 1), ""][:2] for line in lines
              if line and not line.startswith("#")]
    last_from = max(i for i, (word, _) in enumerate(parsed) if word.upper() == "FROM")
    return [(word.upper(), rest.strip()) for word, rest in parsed[last_from:]]


def instruction(name: str) -> str:
    found = [rest for word, rest in instructions() if word == name]
    assert len(found) == 1, f"expected one {name} in the runtime stage, found {len(found)}"
    return found[0]


def exec_form(name: str) -> list[str]:
    value = json.loads(instruction(name))
    assert isinstance(value, list), f"{name} should be in exec form (a JSON array)"
    return [str(part) for part in value]


def image_user() -> tuple[int, int]:
    user, _, group = instruction("USER").partition(":")
    return int(user), int(group)


def image_port() -> int:
    return int(instruction("EXPOSE").split("/")[0])


def healthcheck_url() -> str:
    match = re.search(r"https?://[^'\"\s]+", instruction("HEALTHCHECK"))
    assert match, "HEALTHCHECK should request a URL of the service"
    return match.group(0)


def argv(container: Manifest) -> list[str]:
    """The process a container runs, as Kubernetes composes it with the image's defaults."""
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*exec_form("ENTRYPOINT"), *container.get("args", exec_form("CMD"))]


# --- the application ------------------------------------------------------------------------

def setting_names() -> set[str]:
    return {f"SWITCHBOARD_{name.upper()}" for name in Settings.model_fields}


@cache
def routes() -> frozenset[str]:
    app = create_app(Settings(redis_url="memory://", database_url="sqlite+aiosqlite:///:memory:",
                              auto_migrate=False, background_tasks=False, log_level="WARNING"))
    return frozenset(route.path for route in app.routes
                     if isinstance(route, Route) and "GET" in (route.methods or ()))


def serve_options(command: list[str]) -> argparse.Namespace:
    """`switchboard serve ...` parsed by the CLI's own parser (its defaults included)."""
    assert command[:2] == ["switchboard", "serve"], f"not `switchboard serve`: {command}"
    return parser().parse_args(command[1:])


def env_names(docs: tuple[Manifest, ...]) -> set[str]:
    names: set[str] = set()
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            names |= set(doc.get("data", {}))
        if doc["kind"] in ("Deployment", "Job"):
            for container in pod_spec(doc)["containers"]:
                for var in container.get("env", []):
                    names.add(var["name"])
                    ref = var.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        names.add(ref["key"])
    return names


# --- the tests ------------------------------------------------------------------------------

def test_every_kustomization_is_checked_here() -> None:
    found = {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("k8s/**/kustomization.yaml")}
    assert found == set(RELEASES) | set(RELEASES.values())


@pytest.mark.parametrize("kustomization", [*RELEASES, *RELEASES.values()])
def test_every_switchboard_variable_is_a_setting(kustomization: str) -> None:
    names = env_names(render(kustomization)) | set(secret_template()["stringData"])
    unknown = {name for name in names if name.startswith("SWITCHBOARD_")} - setting_names()
    # Settings ignore unknown variables, so a misspelt one would otherwise do nothing, silently.
    assert not unknown, f"not fields of app.settings.Settings: {sorted(unknown)}"
    assert all(name.startswith("SWITCHBOARD_") for name in names), sorted(names)


@pytest.mark.parametrize("kustomization", list(RELEASES))
def test_the_configuration_is_valid_settings(kustomization: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(kustomization)
    config = one(docs, "ConfigMap")["data"]
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in {**config, **secret_template()["stringData"]}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.auto_migrate is False, "replicas must not migrate: the Job does"
    annotations = one(docs, "Deployment")["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") == "true":
        assert settings.metrics_enabled
        assert annotations["prometheus.io/path"] in routes()


@pytest.mark.parametrize("kustomization", [*RELEASES, *RELEASES.values()])
def test_references_resolve(kustomization: str) -> None:
    docs = render(kustomization)
    template = secret_template()
    config_maps = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"}
    assert not any(doc["kind"] == "Secret" for doc in docs), "the Secret is never applied by -k"
    for workload in (doc for doc in docs if doc["kind"] in ("Deployment", "Job")):
        for container in pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == template["metadata"]["name"]
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == template["metadata"]["name"]
                    assert ref["key"] in template["stringData"]


def test_the_secret_template_holds_only_placeholders() -> None:
    template = secret_template()
    assert "data" not in template
    for name, value in template["stringData"].items():
        assert "CHANGE-ME" in value, f"{name} looks like a real secret"


@pytest.mark.parametrize("kustomization", list(RELEASES))
def test_probes_ask_real_routes_on_the_served_port(kustomization: str) -> None:
    deployment = one(render(kustomization), "Deployment")
    container = only_container(deployment)
    port = serve_options(argv(container)).port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {kind: container[kind]["httpGet"]
              for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert probe["path"] in routes(), f"{kind}: no route {probe['path']}"
        assert ports.get(probe["port"], probe["port"]) == port, kind
    # Liveness must not depend on Redis or SQL: an outage would restart every replica.
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"


@pytest.mark.parametrize("kustomization", list(RELEASES))
def test_one_port_from_image_to_service(kustomization: str) -> None:
    docs = render(kustomization)
    deployment = one(docs, "Deployment")
    container = only_container(deployment)
    options = serve_options(argv(container))
    assert options.host == "0.0.0.0"
    assert options.port == image_port()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert list(ports.values()) == [image_port()]
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert int(annotations["prometheus.io/port"]) == image_port()
    service = one(docs, "Service")
    for service_port in service["spec"]["ports"]:
        target = service_port["targetPort"]
        assert ports.get(target, target) == image_port()


@pytest.mark.parametrize("kustomization", list(RELEASES))
def test_selectors_and_targets_meet(kustomization: str) -> None:
    docs = render(kustomization)
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"],
                 one(docs, "Service")["spec"]["selector"],
                 one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                 *(c["labelSelector"]["matchLabels"]
                   for c in pod_spec(deployment).get("topologySpreadConstraints", []))]
    for selector in selectors:
        assert selector.items() <= labels.items(), selector
    target = one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("kustomization", [*RELEASES, *RELEASES.values()])
def test_pods_run_as_the_image_user_locked_down(kustomization: str) -> None:
    uid, gid = image_user()
    for workload in (d for d in render(kustomization) if d["kind"] in ("Deployment", "Job")):
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"]) == (True, uid, gid)
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        # A Service named switchboard would otherwise inject SWITCHBOARD_* variables.
        assert spec["enableServiceLinks"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "privileged" not in context
            limits = container["resources"]["limits"]
            assert {"cpu", "memory"} <= set(limits) <= set(container["resources"]["requests"])


@pytest.mark.parametrize("kustomization", list(RELEASES))
def test_the_grace_period_covers_the_drain(kustomization: str) -> None:
    deployment = one(render(kustomization), "Deployment")
    container = only_container(deployment)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and len(pre_stop) == 2, pre_stop
    drain_s = serve_options(argv(container)).graceful_timeout_s
    grace_s = pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert grace_s >= int(pre_stop[1]) + drain_s + SHUTDOWN_MARGIN_S, (
        f"{grace_s} s < preStop {pre_stop[1]} s + drain {drain_s} s + {SHUTDOWN_MARGIN_S} s")


@pytest.mark.parametrize(("service", "migration"), list(RELEASES.items()))
def test_the_job_migrates_the_release_it_precedes(service: str, migration: str) -> None:
    job = one(render(migration), "Job")
    container = only_container(job)
    assert argv(container) == ["switchboard", "migrate"]
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    deployment = one(render(service), "Deployment")
    assert container["image"] == only_container(deployment)["image"]
    assert job["metadata"].get("namespace") == deployment["metadata"].get("namespace")


def test_the_example_overlay_pins_its_image() -> None:
    for kustomization in ("k8s/overlays/example", "k8s/overlays/example/migrate"):
        for workload in (d for d in render(kustomization) if d["kind"] in ("Deployment", "Job")):
            image = only_container(workload)["image"]
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest" and "/" not in tag, image


def test_the_image_serves_and_checks_its_own_health() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert exec_form("ENTRYPOINT")[0] in scripts
    options = serve_options([*exec_form("ENTRYPOINT"), *exec_form("CMD")])
    assert (options.host, options.port) == ("0.0.0.0", image_port())
    health = urlsplit(healthcheck_url())
    assert health.port == image_port()
    assert health.path in routes()
    # The image's own variables are read by the app too: a setting, or the Alembic config path.
    migrate_source = (ROOT / "app" / "db" / "migrate.py").read_text()
    for _, rest in (i for i in instructions() if i[0] == "ENV"):
        for name in re.findall(r"\b(SWITCHBOARD_\w+)=", rest):
            assert name in setting_names() or name in migrate_source, name


def test_check_deploy_passes() -> None:
    script = ROOT / "scripts" / "check-deploy"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"{shlex.quote(str(script.relative_to(ROOT)))} failed:\n{done.stdout}{done.stderr}")
