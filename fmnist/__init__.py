"""fmnist: the same Fashion-MNIST network in Keras and PyTorch, trained, compared and shipped."""

from __future__ import annotations

__version__ = "0.1.0"
