"""The container recipe (Dockerfile, compose.yaml, scripts/container.sh), checked without a
container engine: every service runs a role the entrypoint knows, every variable it sets is
one the app reads, the proxy's config is valid nginx, the image runs as a non-root user and
builds the frontend. Building and starting the images needs Docker, which these machines do
not have; the same topology from plain processes is started in test_topology.py."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from reflex_base.config import Config

from photoai.serve_plan import reflex_state_url
from photoai.settings import PROJECT_ROOT, Settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENTRYPOINT = (PROJECT_ROOT / "scripts/container.sh").read_text()
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
ROLES = set(re.findall(r"^  ([a-z]+)\)$", ENTRYPOINT, flags=re.MULTILINE))
APP_SERVICES = {name: s for name, s in SERVICES.items() if s.get("image") == "photoai:latest"}
# Variables read by the entrypoint or by other programs than photoai and Reflex.
OTHER_VARIABLES = {"GRANIAN_WORKERS", "BACKENDS", "PROXY_PORT"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_the_layout_has_every_part() -> None:
    assert {"db", "redis", "minio", "migrate", "web", "upkeep", "worker", "proxy"} <= set(SERVICES)
    assert {"migrate", "web", "upkeep", "worker", "proxy"} == ROLES
    assert SERVICES["web"]["deploy"]["replicas"] == "${WEB_REPLICAS:-2}"
    assert SERVICES["worker"]["deploy"]["replicas"] == "${WORKER_REPLICAS:-2}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_app_service_runs_a_role_of_the_one_image(name: str) -> None:
    service = APP_SERVICES[name]
    assert service["build"]["context"] == "."
    assert service["command"][0] in ROLES
    for needed in service.get("depends_on", {}):
        assert needed in SERVICES, f"{name} waits for a service that does not exist: {needed}"


def test_migrations_run_once_before_anything_that_uses_the_database() -> None:
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("web", "upkeep", "worker"):
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_every_variable_set_is_one_the_app_reads(name: str) -> None:
    settings = set(Settings.model_fields)
    reflex = set(Config.__dataclass_fields__)
    for variable in environment(APP_SERVICES[name]):
        if variable.startswith("PHOTOAI_"):
            assert variable.removeprefix("PHOTOAI_").lower() in settings, variable
        elif variable.startswith("REFLEX_"):
            assert variable.removeprefix("REFLEX_").lower() in reflex, variable
        else:
            assert variable in OTHER_VARIABLES, variable
            if variable != "GRANIAN_WORKERS":
                assert f"${{{variable}:-" in ENTRYPOINT, f"the entrypoint ignores {variable}"


def test_reflex_state_is_on_the_database_after_the_products() -> None:
    env = environment(SERVICES["web"])
    assert env["REFLEX_REDIS_URL"] == reflex_state_url(env["PHOTOAI_REDIS_URL"])


def test_the_proxy_reaches_the_web_service_on_its_port() -> None:
    backend_port = re.search(r"BACKEND_PORT:-(\d+)", ENTRYPOINT)
    assert backend_port is not None
    for address in environment(SERVICES["proxy"])["BACKENDS"].split():
        host, _, port = address.partition(":")
        assert host == "web"
        assert port == backend_port.group(1)
    published = SERVICES["proxy"]["ports"][0].split(":")
    assert published[-1] == environment(SERVICES["proxy"])["PROXY_PORT"]


def test_the_image_builds_the_frontend_and_runs_as_a_non_root_user() -> None:
    final_stage = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER (\S+)", final_stage, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "reflex export --frontend-only" in DOCKERFILE
    assert 'ENTRYPOINT ["bash", "scripts/container.sh"]' in DOCKERFILE
    assert "--static /app/static" in ENTRYPOINT and "/app/static" in DOCKERFILE
    assert SERVICES["web"]["build"]["args"]["API_URL"].startswith("${PHOTOAI_BASE_URL")
    # Everything copied from the build context exists.
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, flags=re.MULTILINE):
        sources = [p for p in line.split() if not p.startswith("--")][:-1]
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source


def test_the_proxy_config_the_image_writes_is_valid_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    static = tmp_path / "static"
    static.mkdir()
    conf = subprocess.run(
        [
            sys.executable,
            "-m",
            "photoai.cli",
            "proxy-config",
            "--listen",
            "8080",
            "--backend",
            "127.0.0.1:8000",
            "--backend",
            "127.0.0.1:8001",
            "--static",
            str(static),
            "--run-dir",
            str(tmp_path / "run"),
            "--access-log",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    ).stdout.strip()
    checked = subprocess.run(
        [nginx, "-t", "-p", f"{tmp_path / 'run'}/", "-c", conf, "-g", "daemon off;"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
