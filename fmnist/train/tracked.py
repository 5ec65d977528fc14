"""One training, tracked in its MLflow child run: what ``fmnist train`` runs, and every trial of a pipeline, sweep
or ablation (:func:`run_trial`, which then scores it). It knows neither framework."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fmnist.config import ModelConfig, TrainConfig, flat_params, get_preset, override, with_overrides
from fmnist.data.batch_store import batches_label
from fmnist.data.manifest import read_manifest
from fmnist.evaluate.scoring import load_eval_splits, score_run
from fmnist.models.numpy_net import save_arrays
from fmnist.tracking import Tracker, environment_params
from fmnist.tracking.layout import BEST_CHECKPOINT_DIR, CHECKPOINTS_DIR, MODEL_CONFIG_ARTIFACT, NETWORK_ARRAYS_ARTIFACT
from fmnist.tracking.split_store import cache_root, fetch_split
from fmnist.train.loop import EpochMetrics, load_train_data, read_state
from fmnist.train.trainers import trainer
from fmnist.train.trial import Trial, TrialSetup, value_label


@dataclass(frozen=True)
class TrainSummary:
    """What a tracked training leaves behind, small enough to pass between processes; ``worker_pid`` and
    ``worker_host`` name the process that trained it, ``started_at`` / ``finished_at`` (Unix time) bracket it."""

    framework: str
    seed: int
    run_id: str
    model_uri: str
    best_epoch: int
    stopped_epoch: int
    final_metrics: dict[str, float]
    best_checkpoint: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    # Split → metrics of the best checkpoint (reloaded from MLflow), when the training process scored it.
    scores: dict[str, Any] | None = None
    trial: Trial | None = None
    worker_pid: int = 0
    worker_host: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0

    def accuracy(self, split: str) -> float:
        """The best checkpoint's accuracy on ``split``; NaN if it was not scored there."""
        scored = (self.scores or {}).get(split)
        return float(scored.accuracy) if scored is not None else float("nan")


def train_framework(
    framework: str,
    split_dir: Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    tracker: Tracker,
    parent_run_id: str,
    checkpoint_root: Path,
    preset: str = "custom",
    on_epoch_end: Callable[[EpochMetrics], None] | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> TrainSummary:
    """Train ``framework`` on ``split_dir`` in the child run of ``parent_run_id`` named ``run_name`` (default: the
    framework; unique under the parent). Checkpoints go to ``checkpoint_root/<parent_run_id>/<run name>``; an
    interrupted training found there resumes, logging into the same child run."""
    run_name = run_name or framework
    backend = trainer(framework)
    started = time.perf_counter()
    manifest = read_manifest(split_dir, verify=False)  # the split readers check what they read
    data = load_train_data(split_dir)
    loaded = time.perf_counter()

    tags = {"framework": framework, "seed": str(train_cfg.seed), **(tags or {})}
    run_id = tracker.start_child(parent_run_id, run_name, tags)
    tracker.log_params(
        run_id,
        {
            **flat_params(model_cfg, train_cfg),
            **environment_params(),
            "preset": preset,
            "seed": train_cfg.seed,
            "threads": train_cfg.threads,
            "data.manifest_sha256": manifest.sha256,
            "data.version": manifest.data_version,
            "data.batches": batches_label(manifest.batches),
            "data.split_dir": str(Path(split_dir).absolute()),
            "data.split_seed": manifest.seed,
            "data.train_rows": manifest.splits["train"].rows,
            "data.val_rows": manifest.splits["val"].rows,
        },
    )
    tracker.log_split_inputs(run_id, split_dir, manifest)
    # The architecture next to the checkpoints, so `evaluate` can rebuild the model from MLflow alone.
    tracker.log_text(run_id, json.dumps(asdict(model_cfg), indent=1), MODEL_CONFIG_ARTIFACT)
    checkpoint_dir = Path(checkpoint_root) / parent_run_id / run_name
    _backfill_history(tracker, run_id, checkpoint_dir, framework)

    def log_epoch(metrics: EpochMetrics) -> None:
        tracker.log_metrics(run_id, {**metrics.as_dict(), "epoch": metrics.epoch}, step=metrics.epoch)
        if metrics.checkpoint_path:
            # A checkpoint may be several files (Keras: weights + optimizer state), all named epoch-NNN.*
            stem = Path(metrics.checkpoint_path).name.split(".")[0]
            for path in sorted(Path(metrics.checkpoint_path).parent.glob(stem + ".*")):
                tracker.log_artifact(run_id, path, CHECKPOINTS_DIR)
        if on_epoch_end is not None:
            on_epoch_end(metrics)

    try:
        result = backend.fit(data, model_cfg, train_cfg, on_epoch_end=log_epoch, checkpoint_dir=checkpoint_dir)
    except BaseException as exc:
        # Interrupted (Ctrl-C, the task cancelled): KILLED; an error: FAILED. Either way never left RUNNING.
        tracker.flush()
        tracker.end_run(run_id, "FAILED" if isinstance(exc, Exception) else "KILLED")
        raise
    trained = time.perf_counter()

    tracker.log_params(run_id, result.params)
    tracker.log_metrics(run_id, {"best_epoch": result.best_epoch, "stopped_epoch": result.stopped_epoch})
    best = Path(result.best_checkpoint)
    tracker.set_tags(run_id, {"best_checkpoint": f"checkpoints/{best.name}"})
    tracker.log_artifact(run_id, best, BEST_CHECKPOINT_DIR)
    # The same weights as plain arrays: the drift check scores a champion from them without importing a framework.
    with tempfile.TemporaryDirectory() as tmp:
        arrays = backend.network_arrays(backend.load_checkpoint(best, model_cfg), model_cfg)
        tracker.log_artifact(run_id, save_arrays(arrays, Path(tmp) / NETWORK_ARRAYS_ARTIFACT))
    model_uri = tracker.log_model(run_id, framework, best, model_cfg)
    tracker.end_run(run_id)
    done = time.perf_counter()
    return TrainSummary(
        framework=framework,
        seed=train_cfg.seed,
        run_id=run_id,
        model_uri=model_uri,
        best_epoch=result.best_epoch,
        stopped_epoch=result.stopped_epoch,
        final_metrics=result.history[result.best_epoch - 1].as_dict() if result.history else {},
        best_checkpoint=str(best),
        seconds=done - started,
        timings={"load": loaded - started, "train": trained - loaded, "log_model": done - trained},
    )


def _backfill_history(tracker: Tracker, run_id: str, checkpoint_dir: Path, framework: str) -> None:
    """Before resuming, log any checkpointed epoch whose metrics never reached MLflow (a process killed right
    after writing its checkpoint can lose the asynchronous batch still in flight)."""
    state = read_state(checkpoint_dir, framework)
    if state is None:
        return
    logged = {step for step, _ in tracker.metric_history(run_id, "val/loss")}
    for metrics in (EpochMetrics(**entry) for entry in state["history"]):
        if metrics.epoch not in logged:
            tracker.log_metrics(run_id, metrics.as_dict(), step=metrics.epoch)
    tracker.flush()


def trial_configs(trial: Trial, setup: TrialSetup) -> tuple[ModelConfig, TrainConfig]:
    """The configs ``trial`` trains with: the setup's preset, its epoch budget, the trial's seed, then the trial's
    values, which win (a sweep may vary the epoch budget itself)."""
    chosen = get_preset(setup.preset)
    base = with_overrides(chosen.train, max_epochs=setup.max_epochs, seed=trial.seed)
    return override(chosen.model, base, trial.values)


def run_trial(
    trial: Trial, setup: TrialSetup, on_epoch_end: Callable[[EpochMetrics], None] | None = None
) -> TrainSummary:
    """Train ``trial`` here as a child run of the setup's parent run, then score its best checkpoint (downloaded
    back from MLflow) on the setup's splits: in the process that holds the framework already, in parallel with the
    other trials, so the evaluation only compares. The run is tagged with the trial's values, arm and labels, and the
    process (pid, host)."""
    started = time.time()
    tracker = Tracker(setup.tracking_uri, setup.experiment)
    tags = {key: value_label(value) for key, value in trial.values.items()}
    tags |= {
        **({"arm": trial.arm} if trial.arm else {}),
        **trial.labels,
        "trial.point": trial.point,
        "trial.worker_pid": str(os.getpid()),
        "trial.worker_host": socket.gethostname(),
    }
    model_cfg, train_cfg = trial_configs(trial, setup)
    split_dir = setup.split_of(trial)
    if split_dir in setup.published:  # this worker may not see the flow's disk: fetch the split
        split_dir = fetch_split(tracker, setup.published[split_dir])
    summary = train_framework(
        trial.framework,
        split_dir,
        model_cfg,
        train_cfg,
        tracker=tracker,
        parent_run_id=setup.parent_run_id,
        checkpoint_root=setup.checkpoint_root or cache_root() / "checkpoints",
        preset=setup.preset,
        on_epoch_end=on_epoch_end,
        run_name=trial.name,
        tags=tags,
    )
    scoring = time.perf_counter()
    data = load_eval_splits(split_dir, setup.score_splits)
    digests = read_manifest(split_dir, verify=False).dataset_digests
    scores = score_run(tracker, summary.run_id, trial.framework, data, digests)
    tracker.flush()
    return replace(
        summary,
        scores=scores,
        timings={**summary.timings, "score": time.perf_counter() - scoring},
        trial=trial,
        worker_pid=os.getpid(),
        worker_host=socket.gethostname(),
        started_at=started,
        finished_at=time.time(),
    )
