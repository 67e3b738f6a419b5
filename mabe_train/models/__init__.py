"""The models by name: `MODELS[cfg.model.name](cfg.model, input_dim, n_outputs)`.

A model maps (B, T, input_dim) inputs to (B, T, n_outputs) per-frame logits; what the outputs mean
(4 classes, 37 actions x pairs, ...) is the task's business, and so are the two widths: the task
derives them from the store's keypoint layout, they are never settings. A new architecture is one
builder `fn(model_cfg, input_dim, n_outputs) -> nn.Module` in a new module, added to `MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from mabe_train import MabeTrainError
from mabe_train.models.conv1d_bilstm import build_conv1d_bilstm

MODELS: dict[str, Callable[..., nn.Module]] = {"conv1d_bilstm": build_conv1d_bilstm}


class ModelError(MabeTrainError, ValueError):
    """Unknown model name."""


def build_model(cfg, input_dim: int, n_outputs: int) -> nn.Module:
    """The model `cfg.name` for inputs of width `input_dim` and `n_outputs` logits per frame."""
    if cfg.name not in MODELS:
        raise ModelError(f"unknown model.name {cfg.name!r} (choose from {', '.join(sorted(MODELS))})")
    return MODELS[cfg.name](cfg, input_dim, n_outputs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
