"""The tracker: a tracking store and experiment, with every operation fmnist needs from MLflow.

Runs are addressed by id, never through the fluent API's "active run", so a trainer in another process (or a
resumed one) logs into exactly the run it was given. Callers get plain values back, never MLflow objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import posixpath
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from fmnist.config import ModelConfig
from fmnist.data.manifest import Manifest
from fmnist.errors import ArtifactStoreError, FmnistError, ServerUnreachableError, is_disk_full
from fmnist.redaction import redact
from fmnist.tracking import layout

EXPERIMENT_ENV = "FMNIST_EXPERIMENT"
DEFAULT_EXPERIMENT = "fmnist-pipeline"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
SERVED_MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")

# MLflow's HTTP client retries by itself; its defaults (7 retries, backoff factor 2, 120 s timeout) keep a training
# waiting for minutes on a server that is gone. These give up after about 15 s of retries (waits of 0, 2, 4, 8 s),
# and 30 s without an answer is a failure. MLflow reads them at each request.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

# Seconds a connection to a SQLite store waits for another process's write before it fails "database is locked".
# MLflow's sessions wait 20 s, but the schema check each new process runs on its first connection waits only
# sqlite3's default 5 s, which several pipelines writing to one store on a busy machine can exceed.
SQLITE_TIMEOUT_SECONDS = 20


def tracking_uri(root: Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else a local store: SQLite in ``<root>/mlruns/mlflow.db``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = (root or Path.cwd()).absolute() / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def environment_params() -> dict[str, str]:
    """Library and machine versions worth knowing next to a result."""
    return {
        "env.python": platform.python_version(),
        "env.platform": platform.platform(),
        "env.cpu_count": str(os.cpu_count()),
        "env.numpy": version("numpy"),
        "env.mlflow": version("mlflow"),
    }


def pip_requirements(framework: str) -> list[str]:
    """What a logged model's predict imports, pinned to the versions it was trained with. CPU builds only:
    ``tensorflow-cpu``, and torch without its local ``+cpu`` tag (the pin resolves to the CPU wheel)."""
    extra = ["torch"] if framework == "torch" else ["tensorflow-cpu", "keras"]
    return [f"{p}=={version(p)}".replace("+cpu", "") for p in ["numpy", "pyarrow", "pandas", "mlflow", *extra]]


MODEL_URI_FORMS = "models:/<name>@<alias>, models:/<name>/<version>, models:/m-<id> or runs:/<run id>/<path>"
ModelKind = Literal["alias", "version", "logged", "run"]
_MODEL_URI_PATTERNS: dict[ModelKind, str] = {
    "run": r"runs:/([^/]+)/(.+)",
    "logged": r"models:/(m-[0-9a-f]+)()",
    "alias": r"models:/([^/@]+)@([^/@]+)",
    "version": r"models:/([^/@]+)/(\d+)",
}


@dataclass(frozen=True)
class ModelRef:
    """What a model URI names: a registered ``name`` at an ``alias`` or ``version``, a ``logged`` model id, or a
    ``run`` id (``ref`` is then the model's path in the run)."""

    kind: ModelKind
    name: str
    ref: str = ""


def parse_model_uri(uri: str) -> ModelRef:
    """Split ``uri`` into what it names; a URI of any other form is refused with the forms accepted."""
    for kind, pattern in _MODEL_URI_PATTERNS.items():
        if found := re.fullmatch(pattern, uri):
            return ModelRef(kind, found[1], found[2])
    raise FmnistError(f"model URI {uri!r} not understood; use {MODEL_URI_FORMS}")


def _sqlite_database(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store URI (its query string left out), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


@contextlib.contextmanager
def _sqlite_setup_lock(database: Path | None) -> Iterator[None]:
    """For a SQLite store, hold a file lock beside the database: MLflow creates its tables on first use, and
    processes that open a fresh store at the same moment would all run that migration, all but one failing."""
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".setup.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _unreachable_reason(exc: Exception) -> str | None:
    """Why the tracking server could not be reached, if ``exc`` says so, else None. MLflow words a request that got
    no answer ``API request to <url> failed with [timeout] exception <error>``; a server's answer reads otherwise."""
    message = str(exc)
    if not (message.startswith("API request to ") and "failed with" in message and "exception" in message):
        return None
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)|(timed out)|(too many \d+ error responses)", message)
    return next((g for g in found.groups() if g), "no answer") if found else "no answer"


@contextlib.contextmanager
def _reaching(uri: str) -> Iterator[None]:
    """Turn a tracking server that stays unreachable through MLflow's retries into one ServerUnreachableError."""
    try:
        yield
    except MlflowException as exc:
        reason = _unreachable_reason(exc)
        if reason is None:
            raise
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        raise ServerUnreachableError(
            f"MLflow tracking server {uri} unreachable ({reason}; gave up after {retries} retries); check "
            "that the server is running and that MLFLOW_TRACKING_URI points at it"
        ) from exc


class _Client:
    """An :class:`MlflowClient` each of whose calls goes through :func:`_reaching`."""

    def __init__(self, uri: str, store_uri: str) -> None:
        self.uri = uri
        self.mlflow = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.mlflow, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with _reaching(self.uri):
                return method(*args, **kwargs)

        return call


def _artifact_problem(exc: Exception) -> str:
    """The shortest true account of an artifact failure, from the whole exception chain (MLflow shortens its own):
    the store's own error (e.g. botocore's ``NoSuchBucket``), else what the tracking server did with the request."""
    chain: list[BaseException] = [exc]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and cause not in chain:
        chain.append(cause)
    text = "\n".join(str(error) for error in chain)
    if found := re.search(r"too many (\d+) error responses", text):
        return f"the server answered HTTP {found[1]} every time"
    if "Connection reset by peer" in text or any(isinstance(error, ConnectionResetError) for error in chain):
        return "the server broke off the transfer"
    innermost = chain[-1]
    return f"{type(innermost).__name__}: {(str(innermost).splitlines() or [''])[0][:300]}"


def _run_record(run: Run) -> dict[str, Any]:
    tags = dict(run.data.tags)
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "framework": tags.get("framework"),
        "seed": int(tags["seed"]) if "seed" in tags else None,
        "tags": tags,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


class Tracker:
    """A tracking store and experiment. Creating one applies :data:`HTTP_RETRY_DEFAULTS` where the user set none;
    every call raises :class:`ServerUnreachableError` naming the URI when the server cannot be reached."""

    def __init__(self, uri: str | None = None, experiment: str | None = None) -> None:
        for key, value in HTTP_RETRY_DEFAULTS.items():
            os.environ.setdefault(key, value)  # a user's own setting wins
        self.uri = uri or tracking_uri()
        database = _sqlite_database(self.uri)
        self._store_uri = self.uri
        if database is not None and "timeout=" not in self.uri:  # SQLAlchemy passes ?timeout= to sqlite3
            self._store_uri += f"{'&' if '?' in self.uri else '?'}timeout={SQLITE_TIMEOUT_SECONDS}"
        self._client = _Client(self.uri, self._store_uri)
        # Metric batches go out on one thread of their own, in order (see log_metrics); it starts with the first.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fmnist-metrics")
        self._pending: list[Future[Any]] = []
        self._pending_lock = threading.Lock()
        name = experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
        with _sqlite_setup_lock(database):
            found = self._client.get_experiment_by_name(name)
            if found is None:
                # A SQLite store keeps artifacts beside it (mlruns/artifacts); a server decides for itself.
                artifacts = None if database is None else (database.parent / "artifacts").as_uri()
                try:
                    self._client.create_experiment(name, artifact_location=artifacts)
                except MlflowException:  # created concurrently by another process or host, or a real failure
                    if self._client.get_experiment_by_name(name) is None:
                        raise
                found = self._client.get_experiment_by_name(name)
            self.experiment_id = found.experiment_id

    # Runs ---------------------------------------------------------------------------------------------------
    def start_parent(self, name: str, tags: Mapping[str, str] | None = None, key: str | None = None) -> str:
        """The parent run of one pipeline execution; return its id. With ``key`` (one of ``tags``), a run already
        tagged with that key's value is reopened instead (a retried task or flow run keeps its one parent run)."""
        tags = dict(tags or {})
        return self._open(self.find_run(key, tags[key]) if key else None, name, tags)

    def start_child(self, parent_id: str, name: str, tags: Mapping[str, str] | None = None) -> str:
        """The child run called ``name`` under ``parent_id``: the existing one (resume; its ``tags`` updated, e.g.
        the process now training it) or a new one with ``tags``."""
        tags = {MLFLOW_PARENT_RUN_ID: parent_id, **dict(tags or {})}
        return self._open(self.find_child(parent_id, name), name, tags)

    def _open(self, existing: str | None, name: str, tags: dict[str, str]) -> str:
        if existing is None:
            return self._client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        self._client.update_run(existing, status="RUNNING")
        self.set_tags(existing, tags)
        return existing

    def find_child(self, parent_id: str, name: str) -> str | None:
        """The id of the child run called ``name`` under ``parent_id``, if there is one."""
        runs = self._search(f"tags.{MLFLOW_PARENT_RUN_ID} = '{parent_id}' and tags.{MLFLOW_RUN_NAME} = '{name}'")
        return runs[0].info.run_id if runs else None

    def find_run(self, tag: str, value: str) -> str | None:
        """The id of the latest run tagged ``tag`` = ``value``, if there is one."""
        runs = self._search(f"tags.`{tag}` = '{value}'")
        return runs[0].info.run_id if runs else None

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as plain values: run_id, name, status, framework, seed, tags, params and latest metrics."""
        return _run_record(self._client.get_run(run_id))

    def children(self, parent_id: str) -> list[dict[str, Any]]:
        """The child runs of ``parent_id`` that trained a framework, each as :meth:`run` gives it."""
        runs = self._search(f"tags.{MLFLOW_PARENT_RUN_ID} = '{parent_id}'", max_results=1000)
        return [_run_record(r) for r in runs if r.data.tags.get("framework")]

    def _search(self, query: str, max_results: int = 1) -> list[Run]:
        """The runs of the experiment that match ``query``, latest first."""
        return self._client.search_runs(
            [self.experiment_id], filter_string=query, max_results=max_results, order_by=["start_time DESC"]
        )

    def run_url(self, run_id: str) -> str | None:
        """The MLflow UI address of a run when the store is a server, else None."""
        if self.uri.startswith(("http://", "https://")):
            return f"{redact(self.uri).rstrip('/')}/#/experiments/{self.experiment_id}/runs/{run_id}"
        return None

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark a run finished (or ``FAILED``/``KILLED``), after this tracker's pending metrics."""
        self.flush()
        self._client.set_terminated(run_id, status=status)

    def finish_parent(self, run_id: str, status: str = "FINISHED", timings: Mapping[str, float] | None = None) -> None:
        """Log a pipeline's stage timings as ``timing/<stage>`` metrics, then close its parent run."""
        stages = {f"timing/{k}": v for k, v in (timings or {}).items() if k != "flow_started_at"}
        if stages:
            self.log_metrics(run_id, stages)
        self.end_run(run_id, status)

    # Params, tags, metrics ------------------------------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log params in batches; MLflow leaves one already logged with the same value alone (resume)."""
        values = [Param(key, redact(str(value))[:MAX_PARAM_LENGTH]) for key, value in params.items()]
        for i in range(0, len(values), 100):  # MLflow accepts at most 100 params per batch
            self._client.log_batch(run_id, params=values[i : i + 100])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self._client.log_batch(run_id, tags=[RunTag(k, redact(str(v))) for k, v in tags.items()])

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        *,
        model_id: str | None = None,
        dataset: tuple[str, str] | None = None,
    ) -> None:
        """Log ``metrics`` at ``step`` in one asynchronous batch: training never waits for the store. With ``model_id``
        and ``dataset`` (name, digest) they are also the logged model's metrics on that dataset. Sent on this
        tracker's own thread: MLflow's async logging idles in a one-second queue poll that every flush waits out."""
        ts = int(time.time() * 1000)
        name, digest = dataset or (None, None)
        batch = [
            Metric(k, float(v), ts, step, model_id=model_id, dataset_name=name, dataset_digest=digest)
            for k, v in metrics.items()
        ]
        with self._pending_lock:
            self._pending.append(self._sender.submit(self._client.log_batch, run_id, metrics=batch))

    def flush(self) -> None:
        """Wait until every batch this tracker logged has reached the store; raise the first failure, once."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self._client.get_metric_history(run_id, key)]

    # Artifacts and datasets -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _artifact_store(self, run_id: str, doing: str) -> Iterator[None]:
        """Turn a failure of the artifact store into one line naming the store and the problem. A failed transfer
        reads as an unreachable server, but a server that answers this call did not fail: the store behind it did."""
        try:
            yield
        except Exception as exc:
            if is_disk_full(exc) or (isinstance(exc, FmnistError) and not isinstance(exc, ServerUnreachableError)):
                raise
            store = self._client.get_run(run_id).info.artifact_uri
            behind = f" behind the MLflow server {self.uri}" if self.uri.startswith(("http://", "https://")) else ""
            raise ArtifactStoreError(
                f"artifact store {store}{behind}: {doing} failed ({_artifact_problem(exc)}); check that the store is"
                " reachable, that its bucket exists and that its credentials are accepted"
            ) from exc

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """Upload a file or a folder into the run's artifacts."""
        path = Path(path)
        upload = self._client.log_artifacts if path.is_dir() else self._client.log_artifact
        with self._artifact_store(run_id, f"uploading {path.name}"):
            upload(run_id, str(path), artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._client.log_text(run_id, redact(text), artifact_file)

    def has_artifact(self, run_id: str, artifact_path: str) -> bool:
        """Whether the run holds a file at ``artifact_path``."""
        with self._artifact_store(run_id, f"listing {artifact_path}"):
            folder = posixpath.dirname(artifact_path) or None
            return any(f.path == artifact_path for f in self._client.list_artifacts(run_id, folder))

    def download_artifact(self, run_id: str, artifact_path: str, dst: Path) -> Path:
        dst.mkdir(parents=True, exist_ok=True)
        with self._artifact_store(run_id, f"downloading {artifact_path}"):
            try:
                return Path(self._client.download_artifacts(run_id, artifact_path, str(dst)))
            except MlflowException:
                # MLflow words every failed download as a wrong path; listing the path says what went wrong.
                self._client.list_artifacts(run_id, artifact_path)
                raise

    def log_split_inputs(self, run_id: str, split_dir: Path, manifest: Manifest) -> None:
        """Record each Parquet split as an input dataset of the run (by reference, with its sha256)."""
        digests = manifest.dataset_digests
        datasets = [
            (layout.dataset_name(name), digests[name], Path(split_dir) / info.file, name)
            for name, info in manifest.splits.items()
        ]
        self.log_datasets(run_id, datasets)

    def log_datasets(self, run_id: str, datasets: list[tuple[str, str, Path, str]]) -> None:
        """Record files as input datasets of the run, by reference: each (name, digest, path, context)."""
        inputs = []
        for name, digest, path, context in datasets:
            with warnings.catch_warnings():
                # file:// matches two equivalent registered source types; MLflow warns and picks one.
                warnings.simplefilter("ignore", UserWarning)
                source = resolve_dataset_source(Path(path).absolute().as_uri())
            meta = MetaDataset(source=source, name=name, digest=digest)
            inputs.append(DatasetInput(Dataset(**meta.to_dict()), [InputTag("mlflow.data.context", context)]))
        try:
            self._client.log_inputs(run_id, datasets=inputs)
        except MlflowException as exc:
            # A SQL store looks a dataset up, then inserts it: two trials starting together both insert it, and
            # one fails on the unique key. The other has committed it by then, so once more finds it.
            if not any(word in str(exc).lower() for word in ("unique constraint", "duplicate")):
                raise
            self._client.log_inputs(run_id, datasets=inputs)

    # Models -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _fluent(self) -> Iterator[None]:
        """MLflow's fluent API pointed at this store, for the two calls the client lacks."""
        mlflow.set_tracking_uri(self._store_uri)
        mlflow.set_registry_uri(self._store_uri)
        with _reaching(self.uri):
            yield

    def log_model(self, run_id: str, framework: str, weights: Path, model_cfg: ModelConfig) -> str:
        """Log the model ``mlflow models serve`` runs, as code (``pyfunc_model.py``) with the weights and architecture
        as artifacts, so loading it unpickles nothing; return its URI."""
        import fmnist

        # Output only: MLflow's input enforcement cannot say "N×784 or N×28×28, any numeric dtype, numpy or
        # DataFrame". The model checks its input itself; the input example and the metadata document it.
        signature = ModelSignature(inputs=None, outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 10))]))
        with tempfile.TemporaryDirectory() as tmp, self._fluent():
            config_path = Path(tmp) / "model_config.json"
            config_path.write_text(json.dumps(asdict(model_cfg)))
            with mlflow.start_run(run_id=run_id, nested=True):
                info = mlflow.pyfunc.log_model(
                    name=layout.MODEL_NAME,
                    python_model=str(SERVED_MODEL_CODE),
                    model_config={"framework": framework},
                    artifacts={"weights": str(weights), "model_config": str(config_path)},
                    # The package the model code imports, for a server started without fmnist installed.
                    code_paths=[str(Path(fmnist.__file__).parent)],
                    signature=signature,
                    input_example=np.zeros((2, 784), dtype=np.uint8),
                    metadata={
                        "input": "raw pixels 0..255: N×784 or N×28×28, numpy (any numeric dtype) or DataFrame",
                        "output": "N×10 class probabilities (float32), classes in Fashion-MNIST label order",
                        "framework": framework,
                    },
                    pip_requirements=pip_requirements(framework),
                )
        # start_run's context manager ended the run; the caller decides when it is finished.
        self._client.update_run(run_id, status="RUNNING")
        return info.model_uri

    def logged_model_id(self, run_id: str) -> str:
        """The id (``m-…``) of the model a run logged; its URI is ``models:/<id>``."""
        query = f"source_run_id = '{run_id}' AND name = '{layout.MODEL_NAME}'"
        models = self._client.search_logged_models(experiment_ids=[self.experiment_id], filter_string=query)
        if not models:
            raise FmnistError(f"run {run_id} logged no model called {layout.MODEL_NAME!r}")
        return models[0].model_id

    def source_run(self, model_uri: str) -> str:
        """The id of the run that trained the model at ``model_uri`` (any of :data:`MODEL_URI_FORMS`)."""
        ref = parse_model_uri(model_uri)
        if ref.kind == "run":
            return ref.name
        try:
            if ref.kind == "logged":
                run_id = self._client.get_logged_model(ref.name).source_run_id
            elif ref.kind == "alias":
                run_id = self._client.get_model_version_by_alias(ref.name, ref.ref).run_id
            else:
                run_id = self._client.get_model_version(ref.name, ref.ref).run_id
        except MlflowException as exc:
            raise FmnistError(f"model {model_uri}: {str(exc).splitlines()[0][:300]}") from None
        if not run_id:
            raise FmnistError(f"model {model_uri} names no run that trained it")
        return str(run_id)

    # Registry ---------------------------------------------------------------------------------------------
    def register(self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None) -> str:
        """Register a logged model as a new version of ``name`` (created on first use); return the version."""
        with warnings.catch_warnings(), self._fluent():
            warnings.simplefilter("ignore", UserWarning)
            version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in (tags or {}).items()})
        return str(version.version)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None (no such model or alias)."""
        try:
            return str(self._client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._client.set_registered_model_alias(name, alias, version)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self._client.get_model_version(name, version).tags)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._client.set_model_version_tag(name, version, key, str(value))
