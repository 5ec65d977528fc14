"""The tracker: a tracking store and experiment, with every operation fmnist needs from MLflow.

Runs are addressed by id through an :class:`MlflowClient`, never through the fluent API's "active run", so a
trainer in another process (or a resumed one) logs into exactly the run it was given. The client stays inside
the tracker: callers get plain values back (ids, dicts, paths), never MLflow objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import posixpath
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from fmnist.config import ModelConfig
from fmnist.data.manifest import Manifest
from fmnist.errors import ArtifactStoreError, FmnistError, ServerUnreachableError, is_disk_full
from fmnist.redaction import redact
from fmnist.tracking import layout
from fmnist.tracking.environment import pip_requirements
from fmnist.tracking.model_uri import parse_model_uri
from fmnist.tracking.sender import OrderedSender

EXPERIMENT_ENV = "FMNIST_EXPERIMENT"
DEFAULT_EXPERIMENT = "fmnist-pipeline"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
SERVED_MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")

# MLflow's HTTP client retries a refused connection, a timeout or a 429/5xx answer by itself; its defaults
# (7 retries, backoff factor 2, 120 s timeout) keep a training waiting for minutes on a server that is gone.
# Here: 4 retries after waits of 0, 2, 4, 8 s (+ up to 1 s jitter each), about 15 s before a call gives up,
# and 30 s without an answer counts as a failure. MLflow reads them at each request.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def tracking_uri(root: Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else a local store: SQLite in ``<root>/mlruns/mlflow.db``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = (root or Path.cwd()).absolute() / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


# Seconds a connection to a SQLite store waits for another process's write before it fails "database is locked".
# MLflow's sessions wait 20 s, but the schema check each new process runs on its first connection waits only
# sqlite3's default 5 s, which several pipelines writing to one store on a busy machine can exceed.
SQLITE_TIMEOUT_SECONDS = 20


def _sqlite_database(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store URI (its query string left out), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


def _store_uri(uri: str) -> str:
    """``uri`` as MLflow should open it: a SQLite store with a connection timeout (`SQLITE_TIMEOUT_SECONDS`)
    unless the URI sets one (SQLAlchemy passes ``?timeout=`` to sqlite3)."""
    if _sqlite_database(uri) is None or "timeout=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}timeout={SQLITE_TIMEOUT_SECONDS}"


@contextlib.contextmanager
def _sqlite_setup_lock(uri: str) -> Iterator[None]:
    """For a SQLite store, hold a file lock beside the database: MLflow creates its tables on first use, and
    processes that open a fresh store at the same moment would all run that migration, all but one failing."""
    database = _sqlite_database(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".setup.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _local_artifact_root(uri: str) -> str | None:
    # A SQLite store keeps artifacts beside it (mlruns/artifacts); a server decides for itself.
    database = _sqlite_database(uri)
    return None if database is None else (database.parent / "artifacts").as_uri()


def _unreachable_reason(exc: Exception) -> str | None:
    """Why the tracking server could not be reached, when that is what ``exc`` says, else None.

    MLflow words a request that failed without an answer (after its retries) as ``API request to <url> failed
    with [timeout] exception <requests error>``; an answer from the server (404, bad JSON ...) reads otherwise.
    """
    message = str(exc)
    if not (message.startswith("API request to ") and "failed with" in message and "exception" in message):
        return None
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)|(timed out)|(too many \d+ error responses)", message)
    return next((g for g in found.groups() if g), "no answer") if found else "no answer"


def _artifact_problem(exc: Exception) -> str:
    """The shortest true account of an artifact failure, from the whole exception chain (MLflow shortens its own
    message): the store's own error when the client reached it directly (e.g. botocore's ``NoSuchBucket``), else
    what the tracking server did with the request."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for error in chain:
        found = re.search(r"too many (\d+) error responses", str(error))
        if found:
            return f"the server answered HTTP {found.group(1)} every time"
    if any(isinstance(error, ConnectionResetError) or "Connection reset by peer" in str(error) for error in chain):
        return "the server broke off the transfer"
    innermost = chain[-1]
    return f"{type(innermost).__name__}: {(str(innermost).splitlines() or [''])[0][:300]}"


def _server_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a tracking server that stays unreachable through MLflow's retries into one clear ServerUnreachableError."""

    @functools.wraps(method)
    def call(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except mlflow.exceptions.MlflowException as exc:
            reason = _unreachable_reason(exc)
            if reason is None:
                raise
            retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
            raise ServerUnreachableError(
                f"MLflow tracking server {self.uri} unreachable ({reason}; gave up after {retries} retries); check "
                "that the server is running and that MLFLOW_TRACKING_URI points at it"
            ) from exc

    return call


def _run_record(run: Run) -> dict[str, Any]:
    """A run as plain values: id, name, status, framework and seed (from its tags), tags, params, latest metrics."""
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
    """A tracking store and experiment, with the handful of operations the pipeline needs.

    Creating one applies fmnist's HTTP retry settings (:data:`HTTP_RETRY_DEFAULTS`) where the user set none.
    The methods a training calls raise :class:`ServerUnreachableError` naming the tracking URI when the server
    cannot be reached (MLflow has retried by then).
    """

    @_server_call
    def __init__(self, uri: str | None = None, experiment: str | None = None) -> None:
        for key, value in HTTP_RETRY_DEFAULTS.items():
            os.environ.setdefault(key, value)  # a user's own setting wins
        self.uri = uri or tracking_uri()
        self._store_uri = _store_uri(self.uri)
        self._client = MlflowClient(tracking_uri=self._store_uri, registry_uri=self._store_uri)
        self._metrics = OrderedSender("fmnist-metrics")
        name = experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
        with _sqlite_setup_lock(self.uri):
            found = self._client.get_experiment_by_name(name)
            if found is None:
                try:
                    self.experiment_id = self._client.create_experiment(
                        name, artifact_location=_local_artifact_root(self.uri)
                    )
                except mlflow.exceptions.MlflowException:  # created concurrently by another process or host
                    self.experiment_id = self._client.get_experiment_by_name(name).experiment_id
            else:
                self.experiment_id = found.experiment_id

    # Runs ---------------------------------------------------------------------------------------------------
    @_server_call
    def start_parent(self, name: str, tags: Mapping[str, str] | None = None, key: str | None = None) -> str:
        """The parent run of one pipeline execution; return its id. With ``key`` (one of ``tags``), a run already
        tagged with that key's value is reopened instead (a retried task or flow run keeps its one parent run)."""
        tags = dict(tags or {})
        existing = self.find_run(key, tags[key]) if key else None
        if existing is not None:
            self._client.update_run(existing, status="RUNNING")
            return existing
        run = self._client.create_run(self.experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    @_server_call
    def start_child(self, parent_id: str, name: str, tags: Mapping[str, str] | None = None) -> str:
        """The child run called ``name`` under ``parent_id``: the existing one (resume; its ``tags`` updated, e.g.
        the process now training it) or a new one with ``tags``."""
        existing = self.find_child(parent_id, name)
        if existing is not None:
            self._client.update_run(existing, status="RUNNING")
            self.set_tags(existing, dict(tags or {}))
            return existing
        run = self._client.create_run(
            self.experiment_id, run_name=name, tags={MLFLOW_PARENT_RUN_ID: parent_id, **dict(tags or {})}
        )
        return run.info.run_id

    @_server_call
    def find_child(self, parent_id: str, name: str) -> str | None:
        """The id of the child run called ``name`` under ``parent_id``, if there is one."""
        query = f"tags.{MLFLOW_PARENT_RUN_ID} = '{parent_id}' and tags.{MLFLOW_RUN_NAME} = '{name}'"
        runs = self._client.search_runs([self.experiment_id], filter_string=query, max_results=1)
        return runs[0].info.run_id if runs else None

    def find_run(self, tag: str, value: str) -> str | None:
        """The id of the latest run tagged ``tag`` = ``value``, if there is one."""
        runs = self._client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{tag}` = '{value}'", max_results=1, order_by=["start_time DESC"]
        )
        return runs[0].info.run_id if runs else None

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as plain values: run_id, name, status, framework, seed, tags, params and latest metrics."""
        return _run_record(self._client.get_run(run_id))

    def children(self, parent_id: str) -> list[dict[str, Any]]:
        """The child runs of ``parent_id`` that trained a framework, each as :meth:`run` gives it."""
        runs = self._client.search_runs(
            [self.experiment_id], filter_string=f"tags.{MLFLOW_PARENT_RUN_ID} = '{parent_id}'", max_results=1000
        )
        return [_run_record(r) for r in runs if r.data.tags.get("framework")]

    def run_url(self, run_id: str) -> str | None:
        """The MLflow UI address of a run when the store is a server, else None."""
        if self.uri.startswith(("http://", "https://")):
            return f"{redact(self.uri).rstrip('/')}/#/experiments/{self.experiment_id}/runs/{run_id}"
        return None

    @_server_call
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
    @_server_call
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log params in one batch; a param already logged with the same value is left alone (resume)."""
        logged = self._client.get_run(run_id).data.params
        values = {key: redact(str(value))[:MAX_PARAM_LENGTH] for key, value in params.items()}
        fresh = [Param(key, value) for key, value in values.items() if logged.get(key) != value]
        for i in range(0, len(fresh), 100):  # MLflow accepts at most 100 params per batch
            self._client.log_batch(run_id, params=fresh[i : i + 100])

    @_server_call
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
        """Log a dict of metrics at ``step`` in one asynchronous batch: training never waits for the store.

        With ``model_id`` (a logged model's id) and ``dataset`` (its name and digest) the metrics are also the
        model's metrics on that dataset: the Models tab of the MLflow UI lists them side by side.

        The batch is written by this tracker's own sender thread rather than by MLflow's asynchronous logging,
        whose thread idles in a one-second queue poll that every flush and every ``set_terminated`` waits out:
        about a second at each stage of each run.
        """
        ts = int(time.time() * 1000)
        name, digest = dataset or (None, None)
        batch = [
            Metric(k, float(v), ts, step, model_id=model_id, dataset_name=name, dataset_digest=digest)
            for k, v in metrics.items()
        ]
        self._metrics.submit(self._client.log_batch, run_id, metrics=batch)

    @_server_call
    def flush(self) -> None:
        """Wait until every batch this tracker logged has reached the store; raise the first failure."""
        self._metrics.flush()

    @_server_call
    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self._client.get_metric_history(run_id, key)]

    # Artifacts and datasets -----------------------------------------------------------------------------------
    @_server_call
    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """Upload a file or a folder into the run's artifacts."""
        path = Path(path)
        with self._artifact_store(run_id, f"uploading {path.name}"):
            if path.is_dir():
                self._client.log_artifacts(run_id, str(path), artifact_path)
            else:
                self._client.log_artifact(run_id, str(path), artifact_path)

    @contextlib.contextmanager
    def _artifact_store(self, run_id: str, doing: str) -> Iterator[None]:
        """Turn a failure of the artifact store into one line that names the store and the problem. A tracking
        server that answers everything else but fails on artifacts is fine itself: the store behind it failed
        (its log says why: a missing bucket, refused credentials, an endpoint it cannot reach)."""
        try:
            yield
        except Exception as exc:
            if isinstance(exc, FmnistError) or is_disk_full(exc):
                raise
            try:
                store = self._client.get_run(run_id).info.artifact_uri
            except Exception:
                raise exc from None  # the tracking server itself is unreachable: _server_call says so
            problem = _artifact_problem(exc)
            behind = f" behind the MLflow server {self.uri}" if self.uri.startswith(("http://", "https://")) else ""
            raise ArtifactStoreError(
                f"artifact store {store}{behind}: {doing} failed ({problem}); check that the store is reachable,"
                " that its bucket exists and that its credentials are accepted"
            ) from exc

    @_server_call
    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._client.log_text(run_id, redact(text), artifact_file)

    @_server_call
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
            except mlflow.exceptions.MlflowException:
                # MLflow words every failed download as a wrong path; listing the path says what went wrong.
                self._client.list_artifacts(run_id, artifact_path)
                raise

    def log_split_inputs(self, run_id: str, split_dir: Path, manifest: Manifest) -> None:
        """Record each Parquet split as an input dataset of the run (by reference, with its sha256)."""
        digests = manifest.dataset_digests
        self.log_datasets(
            run_id,
            [
                (layout.dataset_name(name), digests[name], Path(split_dir).absolute() / info.file, name)
                for name, info in manifest.splits.items()
            ],
        )

    @_server_call
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
        except mlflow.exceptions.MlflowException as exc:
            # A SQL store looks a dataset up, then inserts it: two trials starting together both insert it, and
            # one fails on the unique key. The other has committed it by then, so once more finds it.
            if not any(word in str(exc).lower() for word in ("unique constraint", "duplicate")):
                raise
            self._client.log_inputs(run_id, datasets=inputs)

    # Models -----------------------------------------------------------------------------------------------
    @_server_call
    def log_model(self, run_id: str, framework: str, weights: Path, model_cfg: ModelConfig, name: str = "model") -> str:
        """Log the servable model (``mlflow models serve``): raw pixels in, the 10 class probabilities out.

        It is logged as code (``pyfunc_model.py``), with the weights and architecture as artifacts: loading it
        unpickles nothing. Returns its URI.
        """
        import fmnist

        # The signature declares the output only: MLflow's input enforcement cannot say "N×784 or N×28×28, any
        # numeric dtype, numpy or DataFrame", and would reject half of what the model accepts. The model
        # validates its input itself (fmnist.data.pixels.to_pixel_matrix) with a clear error; the input
        # example and the metadata document the contract.
        signature = ModelSignature(inputs=None, outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 10))]))
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp) / "model_config.json"
            config_path.write_text(json.dumps(asdict(model_cfg)))
            mlflow.set_tracking_uri(self._store_uri)
            mlflow.set_registry_uri(self._store_uri)
            with mlflow.start_run(run_id=run_id, nested=True):
                info = mlflow.pyfunc.log_model(
                    name=name,
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

    def logged_model_uri(self, run_id: str, name: str = "model") -> str:
        """The URI of the model called ``name`` that a run logged."""
        return self._logged_model(run_id, name).model_uri

    def logged_model_id(self, run_id: str, name: str = "model") -> str:
        """The id (``m-…``) of the model called ``name`` that a run logged."""
        return self._logged_model(run_id, name).model_id

    @_server_call
    def _logged_model(self, run_id: str, name: str) -> Any:
        models = self._client.search_logged_models(
            experiment_ids=[self.experiment_id], filter_string=f"source_run_id = '{run_id}' AND name = '{name}'"
        )
        if not models:
            raise FmnistError(f"run {run_id} logged no model called {name!r}")
        return models[0]

    @_server_call
    def source_run(self, model_uri: str) -> str:
        """The id of the run that trained the model at ``model_uri`` (``models:/<name>@<alias>``,
        ``models:/<name>/<version>``, ``models:/m-<id>`` or ``runs:/<run id>/<path>``)."""
        ref = parse_model_uri(model_uri)
        try:
            if ref.kind == "run":
                return ref.name
            if ref.kind == "logged":
                run_id = self._client.get_logged_model(ref.name).source_run_id
            elif ref.kind == "alias":
                run_id = self._client.get_model_version_by_alias(ref.name, ref.ref).run_id
            else:
                run_id = self._client.get_model_version(ref.name, ref.ref).run_id
        except mlflow.exceptions.MlflowException as exc:
            if _unreachable_reason(exc) is not None:
                raise
            raise FmnistError(f"model {model_uri}: {str(exc).splitlines()[0][:300]}") from None
        if not run_id:
            raise FmnistError(f"model {model_uri} names no run that trained it")
        return str(run_id)

    # Registry ---------------------------------------------------------------------------------------------
    def register(self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None) -> str:
        """Register a logged model as a new version of ``name`` (created on first use); return the version."""
        mlflow.set_tracking_uri(self._store_uri)
        mlflow.set_registry_uri(self._store_uri)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in (tags or {}).items()})
        return str(version.version)

    @_server_call
    def registered_version(self, model_uri: str) -> str | None:
        """The registered version ``model_uri`` names now: the version of ``models:/<name>/<version>``, the one
        ``models:/<name>@<alias>`` points at (None if no such alias), None for a logged model or a run's."""
        ref = parse_model_uri(model_uri)
        if ref.kind == "version":
            return ref.ref
        if ref.kind == "alias":
            return self.alias_version(ref.name, ref.ref)
        return None

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None (no such model or alias)."""
        try:
            return str(self._client.get_model_version_by_alias(name, alias).version)
        except mlflow.exceptions.MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._client.set_registered_model_alias(name, alias, version)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self._client.get_model_version(name, version).tags)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._client.set_model_version_tag(name, version, key, str(value))

    def aliases(self, name: str) -> dict[str, str]:
        """Every alias of ``name`` and the version it points at."""
        try:
            return {k: str(v) for k, v in self._client.get_registered_model(name).aliases.items()}
        except mlflow.exceptions.MlflowException:
            return {}
