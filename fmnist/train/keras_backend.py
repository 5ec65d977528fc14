"""Keras's side of a training (mirror of `torch_backend`): one compiled TensorFlow graph per epoch.

Not `model.fit`, which makes one graph call per batch fed by a tf.data iterator: a `tf.range` loop in one
`tf.function` gathers the batches from tensors in the graph, so there is no per-step Python or iterator overhead.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fmnist.atomic import atomic_path, disk_full_as_error
from fmnist.config import ModelConfig, TrainConfig
from fmnist.models import keras_net
from fmnist.models.numpy_net import NetworkArrays, preprocess
from fmnist.train.loop import Backend, TrainData, epoch_seed

KERAS_ADAM_EPSILON = 1e-7


def configure_threads(threads: int) -> None:
    """Pin TensorFlow's intra- and inter-op pools to ``threads``. TensorFlow fixes them when its runtime starts (the
    first op in the process), so a later `fit` with another thread count only warns."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        if (current := tf.config.threading.get_intra_op_parallelism_threads()) != threads:
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


def reseed_dropout(model: keras.Model, seed: int) -> None:
    """Restart every dropout layer's SeedGenerator on its own stream drawn from ``seed``, so an epoch's masks
    depend only on (seed, epoch) and a resumed run draws the same ones.

    Distinct keys (SeedSequence.spawn), not one key at different counters: a generator's state is [key, counter]
    and each mask adds one to the counter, so one layer's mask at step k would be another's at step k + 3.
    """
    generators = [layer.seed_generator for layer in model.layers if hasattr(layer, "seed_generator")]
    children = np.random.SeedSequence(seed).spawn(len(generators))
    for generator, child in zip(generators, children, strict=True):
        key = child.generate_state(1)[0] & 0x7FFFFFFF  # fits a signed 32-bit seed
        generator.state.assign(np.array([key, 0], dtype=generator.state.dtype))


def _optimizer_path(weights_path: Path) -> Path:
    return weights_path.with_name(weights_path.name.replace(".weights.h5", ".optimizer.npz"))


class KerasBackend(Backend):
    """Weights in ``epoch-NNN.weights.h5``, the optimizer's variables beside it in ``epoch-NNN.optimizer.npz``."""

    FRAMEWORK = "keras"
    SUFFIX = ".weights.h5"

    def __init__(self, data: TrainData, model_cfg: ModelConfig, train_cfg: TrainConfig, lrs: np.ndarray) -> None:
        configure_threads(train_cfg.threads)
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        self.model = keras_net.build_model(model_cfg, train_cfg.seed)
        self.adam_epsilon = KERAS_ADAM_EPSILON if train_cfg.adam_epsilon is None else train_cfg.adam_epsilon
        adam = {
            "learning_rate": _TableSchedule(lrs),
            "beta_1": train_cfg.adam_beta1,
            "beta_2": train_cfg.adam_beta2,
            "epsilon": self.adam_epsilon,
        }
        if train_cfg.optimizer == "adamw":
            self.optimizer = keras.optimizers.AdamW(weight_decay=train_cfg.weight_decay, **adam)
        else:
            self.optimizer = keras.optimizers.Adam(**adam)
        self.optimizer.build(self.model.trainable_variables)
        # Categorical (not sparse) because only CategoricalCrossentropy supports label smoothing.
        self.loss_fn = keras.losses.CategoricalCrossentropy(
            from_logits=model_cfg.output == "logits", label_smoothing=train_cfg.label_smoothing
        )
        self.x_train = tf.constant(preprocess(data.x_train, model_cfg))
        self.y_train = tf.constant(data.y_train.astype(np.int32))
        self.x_val = tf.constant(preprocess(data.x_val, model_cfg))
        self.y_val = tf.constant(data.y_val.astype(np.int32))

    def train_epoch(self, epoch: int, perm: np.ndarray) -> tuple[float, float]:
        reseed_dropout(self.model, epoch_seed(self.train_cfg.seed, epoch))
        loss, acc = self._train_graph(self.x_train, self.y_train, tf.constant(perm.astype(np.int32)))
        return float(loss), float(acc)

    @tf.function
    def _train_graph(self, x: tf.Tensor, y: tf.Tensor, perm: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        n, batch_size = tf.shape(perm)[0], self.train_cfg.batch_size
        loss_sum = tf.constant(0.0, tf.float64)
        correct = tf.constant(0, tf.int64)
        for step in tf.range((n + batch_size - 1) // batch_size):
            idx = perm[step * batch_size : tf.minimum((step + 1) * batch_size, n)]
            xb, yb = tf.gather(x, idx), tf.gather(y, idx)
            with tf.GradientTape() as tape:
                out = self.model(xb, training=True)
                loss = self.loss_fn(tf.one_hot(yb, self.model_cfg.n_classes), out)
            grads = tape.gradient(loss, self.model.trainable_variables)
            self.optimizer.apply(grads, self.model.trainable_variables)
            loss_sum += tf.cast(loss, tf.float64) * tf.cast(tf.shape(idx)[0], tf.float64)
            hits = tf.equal(tf.argmax(out, axis=1, output_type=tf.int32), yb)
            correct += tf.reduce_sum(tf.cast(hits, tf.int64))
        return loss_sum / tf.cast(n, tf.float64), tf.cast(correct, tf.float64) / tf.cast(n, tf.float64)

    def val_sums(self, x: tf.Tensor, y: tf.Tensor) -> tuple[float, int]:
        loss, hits = self._val_graph(x, y)
        return float(loss), int(hits)

    @tf.function(reduce_retracing=True)
    def _val_graph(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        out = self.model(x, training=False)
        loss = self.loss_fn(tf.one_hot(y, self.model_cfg.n_classes), out) * tf.cast(tf.shape(y)[0], tf.float32)
        hits = tf.equal(tf.argmax(out, axis=1, output_type=tf.int32), y)
        return loss, tf.reduce_sum(tf.cast(hits, tf.int32))

    def get_weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.model.set_weights(weights)

    def save(self, path: Path) -> None:
        # Optimizer first: the weights file is what marks the epoch as present.
        with atomic_path(_optimizer_path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, *[v.numpy() for v in self.optimizer.variables])
        # Not atomic_path here: Keras insists that the file name end in .weights.h5.
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            with disk_full_as_error(path):
                self.model.save_weights(tmp)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def load(self, path: Path, with_optimizer: bool) -> None:
        self.model.load_weights(path)
        if with_optimizer:
            with np.load(_optimizer_path(path)) as saved:
                for i, variable in enumerate(self.optimizer.variables):
                    variable.assign(saved[f"arr_{i}"])

    def params(self) -> dict[str, str | int | float]:
        momentum, epsilon = keras_net.bn_settings(self.model_cfg)
        return {
            "framework_version": f"keras {keras.__version__} / tensorflow {tf.__version__}",
            "bn_momentum": momentum,
            "bn_momentum_convention": "weight of old average",
            "bn_epsilon": epsilon,
            "adam_epsilon": self.adam_epsilon,
            "adam_epsilon_placement_effective": "before_bias_correction",
            "kernel_initializer": "numpy he_normal (shared)" if self.model_cfg.init == "shared" else "keras HeNormal",
            "loss": f"categorical_crossentropy({'probabilities' if self.model_cfg.output == 'softmax' else 'logits'})",
            "threads_effective": tf.config.threading.get_intra_op_parallelism_threads(),
        }

    @staticmethod
    def load_checkpoint(path: Path, model_cfg: ModelConfig) -> keras.Model:
        model = keras_net.build_model(model_cfg, seed=0)
        model.load_weights(Path(path))
        return model

    @staticmethod
    def probabilities(model: keras.Model, x: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
        out = model(x, training=False)
        return np.asarray(out if model_cfg.output == "softmax" else tf.nn.softmax(out))

    @staticmethod
    def network_arrays(model: keras.Model, model_cfg: ModelConfig) -> NetworkArrays:
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        return NetworkArrays(
            dense=tuple(tuple(layer.get_weights()) for layer in dense),  # (kernel (in, out), bias)
            batch_norm=tuple(tuple(layer.get_weights()) for layer in norms),  # gamma, beta, mean, variance
            epsilon=keras_net.bn_settings(model_cfg)[1],
        )
