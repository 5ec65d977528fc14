"""PyTorch's side of a training (mirror of `keras_backend`): a plain loop over pre-built tensors, no DataLoader."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fmnist.atomic import atomic_write_bytes
from fmnist.config import ModelConfig, TrainConfig
from fmnist.models import torch_net
from fmnist.models.numpy_net import NetworkArrays, preprocess
from fmnist.train.loop import Backend, TrainData, epoch_seed

TORCH_ADAM_EPSILON = 1e-8


class TorchBackend(Backend):
    """Weights and optimizer state together in ``epoch-NNN.pt``."""

    FRAMEWORK = "torch"
    SUFFIX = ".pt"

    def __init__(self, data: TrainData, model_cfg: ModelConfig, train_cfg: TrainConfig, lrs: np.ndarray) -> None:
        torch.set_num_threads(train_cfg.threads)
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        # In inference mode except inside train_epoch, so the model fit() returns is ready to predict.
        self.model = torch_net.build_model(model_cfg, train_cfg.seed).eval()
        self.adam_epsilon = TORCH_ADAM_EPSILON if train_cfg.adam_epsilon is None else train_cfg.adam_epsilon
        # fused: one kernel for all parameters; the default per-tensor loop is a large share of a batch-64 step.
        # Same math, and it still reads lr/eps every step.
        adam = {
            "lr": train_cfg.lr,
            "betas": (train_cfg.adam_beta1, train_cfg.adam_beta2),
            "eps": self.adam_epsilon,
            "fused": True,
        }
        if train_cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(self.model.parameters(), weight_decay=train_cfg.weight_decay, **adam)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), **adam)
        eps = np.full(len(lrs), self.adam_epsilon)
        if train_cfg.adam_epsilon_placement == "before_bias_correction":
            # Keras: alpha*m/(sqrt(v)+eps) with alpha = lr*sqrt(1-b2^t)/(1-b1^t), which is PyTorch's
            # update with epsilon eps/sqrt(1-b2^t) at step t (counted from 1).
            eps = eps / np.sqrt(1.0 - train_cfg.adam_beta2 ** np.arange(1, len(lrs) + 1, dtype=np.float64))
        # (lr, eps) of every step, one block of rows per epoch.
        self.hyperparams = np.stack([lrs, eps], axis=1).reshape(train_cfg.max_epochs, -1, 2)
        self.x_train = torch.from_numpy(preprocess(data.x_train, model_cfg))
        self.y_train = torch.from_numpy(data.y_train.astype(np.int64))
        self.x_val = torch.from_numpy(preprocess(data.x_val, model_cfg))
        self.y_val = torch.from_numpy(data.y_val.astype(np.int64))

    def train_epoch(self, epoch: int, perm: np.ndarray) -> tuple[float, float]:
        batch_size, label_smoothing = self.train_cfg.batch_size, self.train_cfg.label_smoothing
        order = torch.from_numpy(perm)
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        # Dropout draws from the global generator: seeded per epoch inside fork_rng, the caller's state is kept.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch_seed(self.train_cfg.seed, epoch))
            self.model.train()
            for step, (lr, eps) in enumerate(self.hyperparams[epoch - 1].tolist()):
                idx = order[step * batch_size : (step + 1) * batch_size]
                xb, yb = self.x_train.index_select(0, idx), self.y_train.index_select(0, idx)
                for group in self.optimizer.param_groups:
                    group["lr"], group["eps"] = lr, eps
                logits = self.model(xb)
                loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                # Accumulate as tensors: no .item() per step.
                loss_sum += loss.detach() * len(idx)
                correct += (logits.detach().argmax(1) == yb).sum()
            self.model.eval()
        return loss_sum.item() / len(perm), correct.item() / len(perm)

    def val_sums(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        with torch.inference_mode():
            logits = self.model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.train_cfg.label_smoothing, reduction="sum")
            return loss.item(), int((logits.argmax(1) == y).sum())

    def get_weights(self) -> dict[str, torch.Tensor]:
        return copy.deepcopy(self.model.state_dict())

    def set_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights)

    def save(self, path: Path) -> None:
        # Serialised in memory, then written by Python: torch's own file writer reports a full disk as an
        # unrelated zip-position error, Python's write as ENOSPC.
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def load(self, path: Path, with_optimizer: bool) -> None:
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        if with_optimizer:
            self.optimizer.load_state_dict(state["optimizer"])

    def params(self) -> dict[str, str | int | float]:
        momentum, epsilon = torch_net.bn_settings(self.model_cfg)
        placement = self.train_cfg.adam_epsilon_placement
        init = "nn.Linear default (kaiming_uniform a=sqrt5)"
        return {
            "framework_version": torch.__version__,
            "bn_momentum": momentum,
            "bn_momentum_convention": "weight of new batch",
            "bn_epsilon": epsilon,
            "adam_epsilon": self.adam_epsilon,
            "adam_epsilon_placement_effective": "after bias correction" if placement == "framework" else placement,
            "kernel_initializer": "numpy he_normal (shared)" if self.model_cfg.init == "shared" else init,
            "loss": "cross_entropy(logits)",
            "threads_effective": torch.get_num_threads(),
        }

    @staticmethod
    def load_checkpoint(path: Path, model_cfg: ModelConfig) -> nn.Module:
        model = torch_net.build_model(model_cfg, seed=0)
        model.load_state_dict(torch.load(Path(path), weights_only=True)["model"])
        return model.eval()

    @staticmethod
    def probabilities(model: nn.Module, x: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model.eval()(torch.from_numpy(x)), dim=1).numpy()

    @staticmethod
    def network_arrays(model: nn.Module, model_cfg: ModelConfig) -> NetworkArrays:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
        return NetworkArrays(
            dense=tuple((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears),
            batch_norm=tuple(
                tuple(t.detach().numpy().copy() for t in (m.weight, m.bias, m.running_mean, m.running_var))
                for m in norms
            ),
            epsilon=torch_net.bn_settings(model_cfg)[1],
        )
