"""The network in PyTorch (architecture only; the Keras mirror is `keras_net`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fmnist.config import ModelConfig
from fmnist.models.numpy_net import initial_weights, layer_sizes

# PyTorch's own BatchNorm1d defaults, used when the config leaves them to the framework.
TORCH_BN_MOMENTUM = 0.1
TORCH_BN_EPSILON = 1e-5


def bn_settings(model_cfg: ModelConfig) -> tuple[float, float]:
    """(momentum, epsilon) as passed to nn.BatchNorm1d."""
    momentum = TORCH_BN_MOMENTUM if model_cfg.bn_momentum is None else model_cfg.bn_momentum
    epsilon = TORCH_BN_EPSILON if model_cfg.bn_epsilon is None else model_cfg.bn_epsilon
    return momentum, epsilon


class BiasedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose running variance averages the biased batch variance, as Keras's does (nn.BatchNorm1d: the
    unbiased one, x n/(n-1)). Both normalise a training batch with the biased one, so only inference outputs differ."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=0, correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.num_batches_tracked.add_(1)
        # No running statistics given: normalise with the batch's own, and leave the buffers as set above.
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class Net(nn.Module):
    """784 → hidden… → logits; each hidden block Linear, ReLU, BatchNorm1d, Dropout."""

    def __init__(self, model_cfg: ModelConfig) -> None:
        super().__init__()
        momentum, epsilon = bn_settings(model_cfg)
        batch_norm = BiasedBatchNorm1d if model_cfg.bn_variance == "biased" else nn.BatchNorm1d
        *hidden, output = layer_sizes(model_cfg)
        layers: list[nn.Module] = []
        for fan_in, width in hidden:
            layers += [
                nn.Linear(fan_in, width),
                nn.ReLU(),
                batch_norm(width, momentum=momentum, eps=epsilon),
                nn.Dropout(model_cfg.dropout),
            ]
        self.layers = nn.Sequential(*layers, nn.Linear(*output))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build_model(model_cfg: ModelConfig, seed: int) -> Net:
    """A freshly initialised network; the global torch RNG is left untouched."""
    # fork_rng: nn.Linear draws its default init from the global generator.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Net(model_cfg)
    if model_cfg.init == "shared":
        linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for linear, (kernel, bias) in zip(linears, initial_weights(model_cfg, seed), strict=True):
                linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
                linear.bias.copy_(torch.from_numpy(bias))
    return net
