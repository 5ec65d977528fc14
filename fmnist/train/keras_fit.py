"""Train the Keras network: one compiled TensorFlow graph per epoch over pre-built tensors.

Mirror of `torch_loop`: same `fit` signature, metrics, checkpoints and resume semantics. Instead of
`model.fit` (one graph call per batch, fed by a tf.data iterator), the whole epoch runs as a
`tf.range` loop inside one `tf.function`: batches are gathered from a tensor that lives in the
graph, so the per-step Python and iterator overhead disappears.
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fmnist.atomic import atomic_path
from fmnist.config import ModelConfig, TrainConfig, flat_params
from fmnist.models.keras_net import bn_settings, build_model, count_params
from fmnist.models.preprocess import preprocess
from fmnist.train.common import (
    batch_order,
    checkpoint_name,
    epoch_seed,
    lr_table,
    read_state,
    replace_atomically,
    restore_progress,
    steps_per_epoch,
    write_state,
)
from fmnist.train.types import EpochMetrics, TrainData, TrainResult

FRAMEWORK = "keras"
KERAS_ADAM_EPSILON = 1e-7
EVAL_CHUNK = 8192
BEST = "best.weights.h5"

__all__ = ["build_model", "fit", "load_checkpoint", "predict_proba"]


def configure_threads(threads: int) -> None:
    """Pin TensorFlow's intra- and inter-op pools to ``threads``.

    TensorFlow reads these once, when its runtime starts (the first op anywhere in the process);
    later calls cannot change them, so a second `fit` with another thread count only warns.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            warnings.warn(
                f"TensorFlow already started with {current} intra-op threads; threads={threads} "
                "only takes effect in a fresh process",
                RuntimeWarning,
                stacklevel=3,
            )


class _TableSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Look the step's learning rate up in a precomputed table (the one PyTorch uses too)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = tf.constant(table, dtype=tf.float32)

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        last = tf.shape(self.table, out_type=tf.int64)[0] - 1
        return tf.gather(self.table, tf.minimum(tf.cast(step, tf.int64), last))


def _make_optimizer(train_cfg: TrainConfig, lrs: np.ndarray) -> keras.optimizers.Optimizer:
    """Adam or AdamW with the configured (or Keras's default) constants."""
    eps = KERAS_ADAM_EPSILON if train_cfg.adam_epsilon is None else train_cfg.adam_epsilon
    common = {
        "learning_rate": _TableSchedule(lrs),
        "beta_1": train_cfg.adam_beta1,
        "beta_2": train_cfg.adam_beta2,
        "epsilon": eps,
    }
    if train_cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=train_cfg.weight_decay, **common)
    return keras.optimizers.Adam(**common)


def _make_loss(model_cfg: ModelConfig, train_cfg: TrainConfig) -> keras.losses.Loss:
    # Categorical (not sparse) because only CategoricalCrossentropy supports label smoothing.
    return keras.losses.CategoricalCrossentropy(
        from_logits=model_cfg.output == "logits", label_smoothing=train_cfg.label_smoothing
    )


def _make_train_epoch(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, loss_fn: keras.losses.Loss, batch_size: int
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A graph that trains one epoch over ``perm``; returns (mean loss, accuracy)."""
    n_classes = model.output_shape[-1]

    @tf.function
    def train_epoch(x: tf.Tensor, y: tf.Tensor, perm: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        n = tf.shape(perm)[0]
        loss_sum = tf.constant(0.0, tf.float64)
        correct = tf.constant(0, tf.int64)
        for step in tf.range((n + batch_size - 1) // batch_size):
            idx = perm[step * batch_size : tf.minimum((step + 1) * batch_size, n)]
            xb, yb = tf.gather(x, idx), tf.gather(y, idx)
            with tf.GradientTape() as tape:
                out = model(xb, training=True)
                loss = loss_fn(tf.one_hot(yb, n_classes), out)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            loss_sum += tf.cast(loss, tf.float64) * tf.cast(tf.shape(idx)[0], tf.float64)
            hits = tf.equal(tf.argmax(out, axis=1, output_type=tf.int32), yb)
            correct += tf.reduce_sum(tf.cast(hits, tf.int64))
        return loss_sum / tf.cast(n, tf.float64), tf.cast(correct, tf.float64) / tf.cast(n, tf.float64)

    return train_epoch


def _make_evaluate(
    model: keras.Model, loss_fn: keras.losses.Loss
) -> Callable[[tf.Tensor, tf.Tensor], tuple[float, float]]:
    """Mean loss (the training loss function) and accuracy in inference mode."""
    n_classes = model.output_shape[-1]

    @tf.function(reduce_retracing=True)
    def batch_sums(xb: tf.Tensor, yb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = model(xb, training=False)
        loss = loss_fn(tf.one_hot(yb, n_classes), out) * tf.cast(tf.shape(yb)[0], tf.float32)
        hits = tf.equal(tf.argmax(out, axis=1, output_type=tf.int32), yb)
        return loss, tf.reduce_sum(tf.cast(hits, tf.int32))

    def evaluate(x: tf.Tensor, y: tf.Tensor) -> tuple[float, float]:
        n = int(x.shape[0])
        loss_sum, correct = 0.0, 0
        for start in range(0, n, EVAL_CHUNK):
            loss, hits = batch_sums(x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK])
            loss_sum, correct = loss_sum + float(loss), correct + int(hits)
        return loss_sum / n, correct / n

    return evaluate


def _reseed_dropout(model: keras.Model, seed: int) -> None:
    """Set every dropout layer's SeedGenerator state from ``seed``, so an epoch's masks depend only
    on (seed, epoch) and a resumed run draws the same ones."""
    for i, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.array([seed, i], dtype=generator.state.dtype))


def _save_checkpoint(
    checkpoint_dir: Path, epoch: int, model: keras.Model, optimizer: keras.optimizers.Optimizer, is_best: bool
) -> Path:
    """Write ``epoch-NNN.weights.h5`` + ``epoch-NNN.optimizer.npz`` atomically; copy weights to best."""
    stem = checkpoint_name(epoch)
    path = checkpoint_dir / f"{stem}.weights.h5"
    opt_path = checkpoint_dir / f"{stem}.optimizer.npz"
    # Optimizer first: the weights file is what marks the epoch as present.
    with atomic_path(opt_path) as tmp, open(tmp, "wb") as f:
        np.savez(f, *[v.numpy() for v in optimizer.variables])
    # Not atomic_path here: Keras insists that the file name end in .weights.h5.
    tmp = checkpoint_dir / f".tmp-{stem}.weights.h5"
    model.save_weights(tmp)
    replace_atomically(tmp, path)
    if is_best:
        with atomic_path(checkpoint_dir / BEST) as tmp:
            shutil.copyfile(path, tmp)
    return path


def _load_into(path: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None) -> None:
    """Restore weights (and the optimizer's variables) saved by `_save_checkpoint`."""
    model.load_weights(path)
    if optimizer is not None:
        opt_path = path.with_name(path.name.replace(".weights.h5", ".optimizer.npz"))
        with np.load(opt_path) as saved:
            for i, variable in enumerate(optimizer.variables):
                variable.assign(saved[f"arr_{i}"])


def framework_params(model_cfg: ModelConfig, train_cfg: TrainConfig, model: keras.Model) -> dict:
    """Every hyperparameter plus the Keras defaults that matter, as loggable scalars."""
    momentum, epsilon = bn_settings(model_cfg)
    eps = KERAS_ADAM_EPSILON if train_cfg.adam_epsilon is None else train_cfg.adam_epsilon
    init = "numpy he_normal (shared)" if model_cfg.init == "shared" else "keras HeNormal"
    loss = (
        "categorical_crossentropy(probabilities)"
        if model_cfg.output == "softmax"
        else "categorical_crossentropy(logits)"
    )
    return {
        **flat_params(model_cfg, train_cfg),
        "framework": FRAMEWORK,
        "framework_version": f"keras {keras.__version__} / tensorflow {tf.__version__}",
        "bn_momentum": momentum,
        "bn_momentum_convention": "weight of old average",
        "bn_epsilon": epsilon,
        "adam_beta1": train_cfg.adam_beta1,
        "adam_beta2": train_cfg.adam_beta2,
        "adam_epsilon": eps,
        "adam_epsilon_placement_effective": "before_bias_correction",
        "kernel_initializer": init,
        "loss": loss,
        "threads_effective": tf.config.threading.get_intra_op_parallelism_threads(),
        "n_params": count_params(model),
    }


def fit(
    data: TrainData,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    on_epoch_end: Callable[[EpochMetrics], None] | None = None,
    checkpoint_dir: Path | None = None,
) -> TrainResult:
    """Train with early stopping on val loss; resume from ``checkpoint_dir`` if it holds a run.

    ``epoch_seconds`` times the training pass only (not validation or checkpointing).
    """
    configure_threads(train_cfg.threads)
    model = build_model(model_cfg, train_cfg.seed)
    x_train = tf.constant(preprocess(data.x_train, model_cfg))
    y_train = tf.constant(data.y_train.astype(np.int32))
    x_val = tf.constant(preprocess(data.x_val, model_cfg))
    y_val = tf.constant(data.y_val.astype(np.int32))
    n_train = int(x_train.shape[0])
    n_steps = steps_per_epoch(n_train, train_cfg.batch_size)
    lrs = lr_table(train_cfg, n_steps)
    optimizer = _make_optimizer(train_cfg, lrs)
    optimizer.build(model.trainable_variables)
    loss_fn = _make_loss(model_cfg, train_cfg)
    train_epoch = _make_train_epoch(model, optimizer, loss_fn, train_cfg.batch_size)
    evaluate = _make_evaluate(model, loss_fn)

    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(checkpoint_dir, FRAMEWORK)
    done, stopper, history = restore_progress(state, train_cfg.patience)
    last_ckpt = best_ckpt = None
    if state is not None:
        last_ckpt, best_ckpt = checkpoint_dir / f"{checkpoint_name(done)}.weights.h5", checkpoint_dir / BEST
        _load_into(last_ckpt, model, optimizer)
    best_weights = model.get_weights()
    if best_ckpt is not None:
        current = model.get_weights()
        model.load_weights(best_ckpt)
        best_weights = model.get_weights()
        model.set_weights(current)

    for epoch in range(done + 1, train_cfg.max_epochs + 1):
        if stopper.should_stop:
            break
        _reseed_dropout(model, epoch_seed(train_cfg.seed, epoch))
        perm = tf.constant(batch_order(n_train, train_cfg, epoch, FRAMEWORK).astype(np.int32))
        t0 = time.perf_counter()
        train_loss, train_acc = (float(v) for v in train_epoch(x_train, y_train, perm))
        seconds = time.perf_counter() - t0
        val_loss, val_acc = evaluate(x_val, y_val)
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"validation loss is {val_loss} at epoch {epoch}")
        is_best = stopper.update(epoch, val_loss)
        if is_best:
            best_weights = model.get_weights()
        if checkpoint_dir is not None:
            # `best` holds the weights fit() will return: the best-val epoch, or the latest one
            # when restore_best_weights is off (then the last epoch is the one shipped).
            keep = is_best or not train_cfg.restore_best_weights
            last_ckpt = _save_checkpoint(checkpoint_dir, epoch, model, optimizer, keep)
            best_ckpt = checkpoint_dir / BEST
        metrics = EpochMetrics(
            epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, lr=float(lrs[epoch * n_steps - 1]), epoch_seconds=seconds,
            samples_per_second=n_train / seconds, is_best=is_best,
            checkpoint_path=None if last_ckpt is None else str(last_ckpt),
        )  # fmt: skip
        history.append(metrics)
        if checkpoint_dir is not None:
            # State last: a crash before this line resumes from the previous epoch.
            write_state(checkpoint_dir, FRAMEWORK, stopper, history)
        if on_epoch_end is not None:
            on_epoch_end(metrics)

    if train_cfg.restore_best_weights:
        model.set_weights(best_weights)
    return TrainResult(
        framework=FRAMEWORK,
        best_epoch=stopper.best_epoch,
        stopped_epoch=history[-1].epoch if history else 0,
        history=history,
        best_checkpoint=best_ckpt,
        last_checkpoint=last_ckpt,
        model=model,
        params=framework_params(model_cfg, train_cfg, model),
    )


def predict_proba(model: keras.Model, x_uint8: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """Class probabilities (N, 10) for raw uint8 pixels."""
    x = preprocess(x_uint8, model_cfg)
    chunks = []
    for start in range(0, len(x), EVAL_CHUNK):
        out = model(x[start : start + EVAL_CHUNK], training=False)
        chunks.append(out if model_cfg.output == "softmax" else tf.nn.softmax(out))
    return np.concatenate([np.asarray(c) for c in chunks]) if chunks else np.zeros((0, 10), np.float32)


def load_checkpoint(path: Path, model_cfg: ModelConfig) -> keras.Model:
    """A model with the weights of a ``.weights.h5`` checkpoint written by `fit`."""
    model = build_model(model_cfg, seed=0)
    _load_into(Path(path), model)
    return model
