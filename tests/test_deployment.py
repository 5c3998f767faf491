"""The multi-service deployment (docker-compose.yaml, Dockerfile), checked without a Docker engine.

The compose file is read as YAML and held to what the pipeline needs of it; when the `docker
compose` plugin is installed, `docker compose config` validates it as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK_FILE = ROOT / "requirements.lock"

AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "airflow-cli",
]
# Every container that runs the project's code and may touch the warehouse or the shared files.
PROJECT_SERVICES = [*AIRFLOW_SERVICES, "shop-init"]
LONG_RUNNING = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
VAR_DIR = "/opt/airflow/var"

_DEFAULTED = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _defaults(value: object) -> str:
    """A compose value with every `${NAME:-default}` replaced by its default (what runs unset)."""
    return _DEFAULTED.sub(lambda m: m.group(2) or "", str(value))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {key: _defaults(value) for key, value in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> source of every short-syntax volume of a service."""
    mounts = {}
    for entry in service.get("volumes") or []:
        source, target = entry.split(":")[:2]
        mounts[target] = source
    return mounts


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _locked_airflow_version() -> str:
    match = re.search(r"^apache-airflow==(\S+)$", LOCK_FILE.read_text(), re.MULTILINE)
    assert match, "requirements.lock pins apache-airflow"
    return match.group(1)


# --------------------------------------------------------------------------- services


def test_the_deployment_has_every_service(services):
    expected = {*AIRFLOW_SERVICES, "redis", "postgres", "warehouse", "object-store", "mlflow", "shop-init"}
    assert expected <= set(services), f"missing services: {sorted(expected - set(services))}"


def test_every_project_service_runs_the_image_built_from_the_dockerfile(services):
    images = set()
    for name in PROJECT_SERVICES:
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "Dockerfile"
        images.add(_defaults(services[name]["image"]))
    assert len(images) == 1, f"one image for all project services, got {images}"


def test_airflow_runs_the_celery_executor_with_redis_and_its_own_postgres(services):
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:@redis:6379/"), name
        assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert "@postgres/airflow" in env["AIRFLOW__CELERY__RESULT_BACKEND"], name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["postgres"]["image"] == "postgres:16"


def test_airflow_3_services_share_the_execution_api_and_their_secrets(services):
    shared = {}
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
            assert key in env, f"{name} lacks {key}"
            shared.setdefault(key, set()).add(services[name]["environment"][key])
    # One variable per secret: the components must agree on it. It is required (`${NAME:?...}`):
    # no value is written in the file, where anyone could read it and forge tokens.
    assert all(len(values) == 1 for values in shared.values()), shared
    for key, (value,) in shared.items():
        assert str(value).startswith(f"${{{key}:?"), f"{key} must be required from .env, got {value}"


def test_every_published_port_listens_on_this_machine_only(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_make_env_writes_every_required_secret_fresh(compose):
    from cryptography.fernet import Fernet

    from include import compose_env

    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    assert required == set(compose_env.SECRETS)
    first, second = compose_env.fresh_secrets(), compose_env.fresh_secrets()
    assert set(first) == required
    Fernet(first["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid key
    assert all(len(first[k]) >= 20 and first[k] != second[k] for k in required)


def test_the_auth_manager_is_one_the_image_has(services):
    fab_locked = re.search(r"^apache-airflow-providers-fab==", LOCK_FILE.read_text(), re.MULTILINE)
    env = _env(services["airflow-apiserver"])
    if fab_locked:
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    else:
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("simple_auth_manager.SimpleAuthManager")
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
        # The generated passwords file lives on a volume, so the password survives a restart.
        password_dir = str(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
        for name in ("airflow-apiserver", "airflow-init"):
            assert password_dir in _mounts(services[name]), name


def test_worker_concurrency_is_configurable_and_defaults_to_two(services):
    raw = services["airflow-worker"]["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"]
    assert raw.startswith("${AIRFLOW__CELERY__WORKER_CONCURRENCY")
    assert _defaults(raw) == "2"
    assert "deploy" not in services["airflow-worker"], "scaled with --scale, not a fixed replica count"
    assert "container_name" not in services["airflow-worker"], "a fixed name would forbid --scale"


# --------------------------------------------------------------------------- warehouse and files


def test_the_warehouse_is_postgres_16_with_the_shop_database(services):
    warehouse = services["warehouse"]
    assert warehouse["image"] == "postgres:16"
    assert warehouse["environment"]["POSTGRES_DB"] == "shop"


def test_every_project_service_gets_the_warehouse_connection(services):
    db = services["warehouse"]["environment"]
    expected = (
        f"postgres://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@warehouse:5432/{db['POSTGRES_DB']}"
    )
    for name in PROJECT_SERVICES:
        env = _env(services[name])
        assert env.get("AIRFLOW_CONN_WAREHOUSE") == expected, name


def test_the_warehouse_connection_is_one_the_project_reads():
    from include import warehouse

    url = warehouse._sqlalchemy_url("postgres://shop:shop@warehouse:5432/shop")
    assert url == "postgresql+psycopg://shop:shop@warehouse:5432/shop"


def test_every_project_service_mounts_the_shared_var_volume_at_the_same_path(compose, services):
    sources = set()
    for name in PROJECT_SERVICES:
        service = services[name]
        mounts = _mounts(service)
        assert VAR_DIR in mounts, f"{name} does not mount {VAR_DIR}"
        sources.add(mounts[VAR_DIR])
        env = _env(service)
        assert env["SHOPFLOW_VAR_DIR"] == VAR_DIR, name
        # Staging and models are in the object store, not on the volume (next test).
        for key in ("SHOPFLOW_STAGING_DIR", "SHOPFLOW_MODEL_DIR"):
            assert env[key].startswith("s3://shopflow/"), (name, key)
    assert len(sources) == 1, f"one volume for every container, got {sources}"
    (source,) = sources
    assert not source.startswith((".", "/")), "a named volume, not a bind mount"
    assert source in compose["volumes"]


def test_staging_and_models_go_to_the_object_store_service(services):
    store = services["object-store"]
    assert str(store["image"]).startswith("minio/minio:RELEASE.") and "latest" not in store["image"]
    for name in PROJECT_SERVICES:
        env = _env(services[name])
        assert env["SHOPFLOW_STORE_CONN_ID"] == "shopflow_store", name
        connection = json.loads(services[name]["environment"]["AIRFLOW_CONN_SHOPFLOW_STORE"])
        assert connection["conn_type"] == "aws"
        assert connection["extra"]["endpoint_url"] == "http://object-store:9000", name
        # The store's own root credentials, from .env: the same pair on both sides.
        assert connection["login"] == store["environment"]["MINIO_ROOT_USER"]
        assert connection["password"] == store["environment"]["MINIO_ROOT_PASSWORD"]
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["object-store"]["condition"] == "service_healthy", name
    assert "python -m include.store prepare" in "\n".join(services["airflow-init"]["command"])


def test_candidates_are_tracked_in_the_mlflow_service(services):
    mlflow = services["mlflow"]
    version = re.search(r"^mlflow-skinny==(\S+)$", LOCK_FILE.read_text(), re.MULTILINE).group(1)
    assert mlflow["image"] == f"ghcr.io/mlflow/mlflow:v{version}", "the server of the client's version"
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"] and "--serve-artifacts" in command
    allowed = next(c for c in command if c.startswith("--allowed-hosts="))
    assert "mlflow:5000" in allowed, "the workers reach it by its service name"
    assert _mounts(mlflow).get("/mlflow") in {"mlflow-data"}, "its store survives a restart"
    for name in AIRFLOW_SERVICES:
        assert _env(services[name])["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name


def test_the_cluster_test_runs_the_compose_environment_with_only_addresses_folders_and_secrets_replaced(
    services,
):
    from include import compose_env
    from tests.e2e.cluster import ADDRESSES, FOLDERS, LOCAL, cluster_environment, compose_environment

    secrets = compose_env.fresh_secrets()
    compose = compose_environment(secrets)
    local = cluster_environment(
        secrets,
        addresses={name: f"local-{name}" for name in ADDRESSES},
        folders={name: f"/tmp/{name}" for name in FOLDERS},
        local={"PYTHONPATH": "/src"},
    )
    assert set(compose) <= set(local)
    replaced = {name for name in compose if local[name] != compose[name]}
    assert replaced == set(ADDRESSES | FOLDERS), "everything else runs as the compose file says"
    assert set(local) - set(compose) == {"PYTHONPATH"} and not LOCAL & set(compose)
    # The addresses replaced are those of this file's services; the secrets are the .env's.
    hosts = "|".join(re.escape(name) for name in services)
    for name in ADDRESSES - {"AIRFLOW_CONN_SHOPFLOW_STORE"}:
        assert re.search(rf"(//|@)({hosts})(:\d+)?(/|$)", compose[name]), (name, compose[name])
    store_then, store_now = (
        json.loads(compose["AIRFLOW_CONN_SHOPFLOW_STORE"]),
        json.loads(local["AIRFLOW_CONN_SHOPFLOW_STORE"]),
    )
    store_then["extra"].pop("endpoint_url")
    assert store_now["extra"].pop("endpoint_url") == "local-AIRFLOW_CONN_SHOPFLOW_STORE"
    assert store_now == store_then
    for name in compose_env.SECRETS:
        assert secrets[name] in " ".join(compose.values()), f"{name} reaches the Airflow services"
    with pytest.raises(KeyError, match="required"):
        compose_environment({})


def test_the_settings_put_staging_and_models_under_the_var_dir(monkeypatch):
    from include import settings

    monkeypatch.setenv("SHOPFLOW_VAR_DIR", VAR_DIR)
    monkeypatch.delenv("SHOPFLOW_STAGING_DIR", raising=False)
    monkeypatch.delenv("SHOPFLOW_MODEL_DIR", raising=False)
    assert settings.staging_location() == str(Path(VAR_DIR) / "staging")
    assert settings.model_location() == str(Path(VAR_DIR) / "models")


def test_shop_init_builds_the_small_shop_once_under_its_profile(services):
    shop_init = services["shop-init"]
    assert shop_init["profiles"] == ["simulate"]
    assert shop_init["command"] == [
        "python", "-m", "include.simulator", "build", "--preset", "small", "--days", "90"
    ]  # fmt: skip
    assert shop_init["depends_on"]["warehouse"]["condition"] == "service_healthy"
    assert "restart" not in shop_init, "a one-shot service is not restarted"


def test_airflow_init_migrates_the_database(services):
    script = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in script
    assert "set -euo pipefail" in script, "a failed migration must fail the init"


# --------------------------------------------------------------------------- health and order


def test_every_long_running_service_has_a_healthcheck(services):
    for name in [*LONG_RUNNING, "postgres", "redis", "warehouse", "object-store", "mlflow"]:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_airflow_waits_for_healthy_backends_and_a_finished_init(services):
    for name in LONG_RUNNING:
        depends = services[name]["depends_on"]
        for backend in ("postgres", "redis", "warehouse"):
            assert depends[backend]["condition"] == "service_healthy", (name, backend)
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_every_dependency_is_a_service(services):
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, (name, dependency)


# --------------------------------------------------------------------------- image


def test_the_base_image_is_the_slim_airflow_image_of_the_lock():
    froms = [args for keyword, args in _dockerfile_instructions() if keyword == "FROM"]
    assert froms == [f"apache/airflow:slim-{_locked_airflow_version()}-python3.11"]


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$", path.read_text(), re.MULTILINE))


def test_the_image_gets_runtime_dependencies_only_at_the_versions_the_tests_ran():
    runtime, development = _pins(LOCK_FILE), _pins(ROOT / "requirements-dev.lock")
    for tool in ("pytest", "pytest-timeout", "ruff", "playwright", "moto", "aiosmtpd"):
        assert tool in development and tool not in runtime, tool
    for package in (
        "apache-airflow",
        "tensorflow-cpu",
        "great-expectations",
        "s3fs",
        "mlflow-skinny",
        "celery",
    ):
        assert package in runtime, package
    differ = {
        name: (version, development.get(name))
        for name, version in runtime.items()
        if development.get(name) != version
    }
    assert not differ, f"the image would run other versions than the tests: {differ}"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_the_image_installs_the_lock_as_the_airflow_user():
    instructions = _dockerfile_instructions()
    pip = [i for i, (kw, args) in enumerate(instructions) if kw == "RUN" and "pip install" in args]
    assert len(pip) == 1
    index = pip[0]
    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.lock", instructions[index][1])
    users = [args for kw, args in instructions[:index] if kw == "USER"]
    assert users and users[-1] == "airflow"
    copied = [args for kw, args in instructions[:index] if kw == "COPY"]
    assert any(re.search(r"(^|\s)requirements\.lock\s", args) for args in copied)


def test_the_image_carries_the_code_on_the_python_path():
    instructions = _dockerfile_instructions()
    copies = {}
    for keyword, args in instructions:
        if keyword == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            for source in parts[:-1]:
                copies[source.rstrip("/")] = parts[-1].rstrip("/")
    for folder in ("dags", "include"):
        assert copies.get(folder) == f"/opt/airflow/{folder}", folder
        assert (ROOT / folder).is_dir() and any((ROOT / folder).glob("*.py")), folder
    # plugins/ is copied when present (git keeps no empty folder, so a checkout may lack it).
    plugins = [src for src, dest in copies.items() if dest == "/opt/airflow/plugins"]
    assert plugins, "the Dockerfile copies the plugins folder"
    assert all(src == "plugins" or re.fullmatch(r"plugin\[s\]", src) for src in plugins)
    envs = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert re.search(r"PYTHONPATH=/opt/airflow(\s|$)", envs)
    assert f"SHOPFLOW_VAR_DIR={VAR_DIR}" in envs


def test_the_build_context_keeps_what_the_dockerfile_copies():
    kept = {
        line.strip()[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip().startswith("!")
    }
    assert {"requirements.lock", "dags", "include", "plugins"} <= kept


# --------------------------------------------------------------------------- docker compose


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


@pytest.mark.skipif(
    not _compose_plugin(),
    reason="the docker compose plugin is not installed (`docker compose version` fails)",
)
def test_docker_compose_config_accepts_the_file():
    from include import compose_env

    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env={**os.environ, **compose_env.fresh_secrets()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
