"""docker-compose.yml and the Dockerfile read against what they start (no container engine runs
here): every package is in the image, every variable set is one its service reads (pbxhub's
Settings, Temporal's images, PostgreSQL's), every pbxhub command and health check is real."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.routes import health
from pbxhub.cli import build_parser
from pbxhub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PBXHUB_SERVICES = {name for name, service in SERVICES.items() if "build" in service}

# What Temporal's and PostgreSQL's images read (their docs and config templates), by image.
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    # the server's config template (config_template.yaml) for the postgres12 plugin
    "temporalio/server": {
        "DB",
        "DB_PORT",
        "POSTGRES_SEEDS",
        "POSTGRES_USER",
        "POSTGRES_PWD",
        "BIND_ON_IP",
    },
    # temporal-sql-tool reads SQL_PASSWORD; the rest is read by deploy/temporal's scripts
    "temporalio/admin-tools": {"SQL_PASSWORD"},
    "temporalio/ui": {"TEMPORAL_ADDRESS", "TEMPORAL_DEFAULT_NAMESPACE"},
}


def image_name(service: dict[str, Any]) -> str:
    return str(service.get("image", "")).rsplit(":", 1)[0]


def script_variables(service: dict[str, Any]) -> set[str]:
    """The variables the deploy/temporal script a one-shot service runs reads."""
    script = ROOT / "deploy/temporal" / Path(service["command"][-1]).name
    return set(re.findall(r"\$\{?([A-Z_]+)", script.read_text()))


def test_the_dockerfile_copies_every_package_pyproject_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.split(".")[0] for name in pyproject["tool"]["setuptools"]["packages"]}
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "Dockerfile").read_text(), re.M))

    assert packages - copied == set()
    assert copied - packages == set()  # nothing copied that is not installed


@pytest.mark.parametrize("name", sorted(PBXHUB_SERVICES))
def test_every_pbxhub_variable_is_a_setting_and_every_command_is_pbxhubs(name: str) -> None:
    service = SERVICES[name]
    settings = {f"PBXHUB_{field.upper()}" for field in Settings.model_fields}
    variables = set(service["environment"])

    assert variables - settings == set()
    command = service["command"]
    assert command[0] == "pbxhub"
    build_parser().parse_args(command[1:])  # exits on an unknown command or option


def test_the_compose_file_sets_what_a_deployment_must_decide() -> None:
    for name in ("api", "worker"):
        variables = SERVICES[name]["environment"]
        assert variables["PBXHUB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert variables["PBXHUB_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert "${PBXHUB_ADMIN_KEY:?" in variables["PBXHUB_ADMIN_KEY"]
        assert variables["PBXHUB_LOG_FORMAT"] == "json"
        assert "recordings:/data/recordings" in SERVICES[name]["volumes"]
    assert SERVICES["search-attributes"]["command"] == ["pbxhub", "temporal-setup"]


@pytest.mark.parametrize("name", sorted(set(SERVICES) - PBXHUB_SERVICES))
def test_every_other_variable_is_one_its_image_reads(name: str) -> None:
    service = SERVICES[name]
    image = image_name(service)
    read = IMAGE_VARIABLES[image]
    if image == "temporalio/admin-tools":
        read = read | script_variables(service)

    assert set(service.get("environment", {})) - read == set()
    assert not str(service["image"]).endswith((":latest", image))  # a pinned version


def test_temporal_s_jobs_and_server_are_one_version_and_run_in_order() -> None:
    versions = {
        str(service["image"]).rsplit(":", 1)[1]
        for service in SERVICES.values()
        if image_name(service) in ("temporalio/server", "temporalio/admin-tools")
    }
    assert len(versions) == 1
    assert SERVICES["temporal"]["depends_on"]["temporal-schema"] == {
        "condition": "service_completed_successfully"
    }
    assert SERVICES["temporal-namespace"]["depends_on"]["temporal"] == {
        "condition": "service_healthy"
    }
    for name in ("api", "worker"):
        assert SERVICES[name]["depends_on"]["search-attributes"] == {
            "condition": "service_completed_successfully"
        }
    namespace = SERVICES["temporal-namespace"]["environment"]["DEFAULT_NAMESPACE"]
    assert namespace == SERVICES["api"]["environment"]["PBXHUB_TEMPORAL_NAMESPACE"]


def test_the_health_checks_ask_what_pbxhub_serves() -> None:
    served = {getattr(route, "path", None) for route in health.router.routes}
    assert "/readyz" in served
    api_check = " ".join(SERVICES["api"]["healthcheck"]["test"])
    worker = SERVICES["worker"]
    worker_check = " ".join(worker["healthcheck"]["test"])

    assert "http://127.0.0.1:8000/readyz" in api_check
    assert SERVICES["api"]["ports"] == ["8000:8000"]
    port = worker["environment"]["PBXHUB_WORKER_METRICS_PORT"]
    assert f"http://127.0.0.1:{port}/metrics" in worker_check
    for service in SERVICES.values():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[0] in ("CMD", "CMD-SHELL"), test
    # the python the check runs is the image's own
    assert shlex.split(api_check)[1] == "python"
