"""Model registry: `@register_model("name")` on a builder, `build_model(cfg.model, ...)` by name.

A model maps (B, T, input_dim) inputs to (B, T, n_outputs) per-frame logits; what the outputs mean
(4 classes, 37 actions x pairs, ...) is the task's business. Builders take the `ModelConfig` and the
two widths the task decides, so a new architecture is one decorated function in one new module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from mabe_train import MabeTrainError

MODELS: dict[str, Callable[..., nn.Module]] = {}


class ModelError(MabeTrainError, ValueError):
    """Unknown model name or an inconsistent model config."""


def register_model(name: str):
    """Decorator: make `fn(cfg, input_dim, n_outputs) -> nn.Module` buildable as `name`."""
    def deco(fn):
        MODELS[name] = fn
        return fn
    return deco


def build_model(cfg, input_dim: int, n_outputs: int) -> nn.Module:
    """The registered model `cfg.name` for inputs of width `input_dim` and `n_outputs` logits."""
    problems = []
    if cfg.name not in MODELS:
        problems.append(f"unknown model.name {cfg.name!r} (registered: {', '.join(sorted(MODELS))})")
    if cfg.input_dim != input_dim:
        problems.append(f"model.input_dim is {cfg.input_dim} but the features give {input_dim} — "
                        f"set model.input_dim={input_dim}")
    if cfg.num_classes != n_outputs:
        problems.append(f"model.num_classes is {cfg.num_classes} but the task predicts {n_outputs} "
                        f"outputs — set model.num_classes={n_outputs}")
    if problems:
        raise ModelError("; ".join(problems))
    return MODELS[cfg.name](cfg, input_dim, n_outputs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _import_all() -> None:
    """Import every module of this package so its @register_model builders run."""
    import importlib
    import pkgutil
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")


_import_all()
