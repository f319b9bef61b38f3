"""Optional thin PyTorch adapter: prune masks, codebook weights and export to .dc for ``nn.Module``s.

For people who train in PyTorch. Not a dependency of dcformat: import this module
only when torch is installed. It reuses the framework-free pieces, so a PyTorch
run and a NumPy run make the same decisions:

* :class:`TorchMasks` -- keep-masks from ``dcformat.prune.prune_to_density``;
  gradient hooks zero pruned gradients and :meth:`TorchMasks.apply` re-zeroes the
  weights after ``optimizer.step()`` (paper §2).
* :func:`share_weights` -- k-means each named weight (``dcformat.quantize``) and
  re-parametrize it as ``codebook[labels]``: the codebook becomes the trainable
  parameter and autograd's gather backward sums member gradients per centroid,
  which is eq. 3 (paper §3.3).
* :func:`export` -- write the module's current tensors to a .dc file losslessly
  (no further pruning; codes wide enough for every codebook).

Example::

    masks = TorchMasks(model, {"fc1.weight": 0.08})
    ...train, calling masks.apply() after each optimizer.step()...
    share_weights(model, {"fc1.weight": 5})
    ...fine-tune (the optimiser must be built after share_weights)...
    export(model, "model.dc")
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from dcformat.prune import prune_to_density
from dcformat.training.shared_weights import SharedWeight

__all__ = ["Codebook", "TorchMasks", "export", "share_weights", "state_arrays"]


def _param(module: nn.Module, name: str) -> tuple[nn.Module, str, torch.Tensor]:
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    return owner, attr, getattr(owner, attr)


class TorchMasks:
    """Pruning masks on named parameters of ``module``, enforced during retraining."""

    def __init__(self, module: nn.Module, densities: Mapping[str, float]) -> None:
        self.masks: dict[str, torch.Tensor] = {}
        self._params: dict[str, torch.Tensor] = {}
        self._hooks = []
        for name, density in densities.items():
            _, _, p = _param(module, name)
            keep = prune_to_density(p.detach().cpu().numpy(), density)
            mask = torch.from_numpy(keep).to(device=p.device, dtype=p.dtype)
            self.masks[name] = mask
            self._params[name] = p
            self._hooks.append(p.register_hook(lambda g, m=mask: g * m))
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """Zero pruned weights in place (call after every optimiser step)."""
        for name, p in self._params.items():
            p.mul_(self.masks[name])

    def remove(self) -> None:
        """Drop the gradient hooks (the weights stay as they are)."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()


class Codebook(nn.Module):
    """Parametrization ``weight = [codebook, 0][labels]`` (label -1 = pruned = 0)."""

    def __init__(self, codebook: np.ndarray, labels: np.ndarray, device: Any, dtype: torch.dtype) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.tensor(codebook, dtype=dtype, device=device))
        lab = np.where(labels < 0, codebook.size, labels)  # index k is the appended zero
        self.register_buffer("labels", torch.from_numpy(lab.astype(np.int64)).to(device))

    def forward(self, _original: torch.Tensor) -> torch.Tensor:
        table = torch.cat([self.codebook, self.codebook.new_zeros(1)])
        return table[self.labels]


def share_weights(module: nn.Module, bits: Mapping[str, int], *, init: str = "linear",
                  seed: int = 0) -> dict[str, Codebook]:
    """Tie each named weight to a ``2**bits`` k-means codebook; returns the codebook modules.

    After this, ``module.<name>`` is computed from ``Codebook.codebook`` (a new
    parameter: create the optimiser afterwards). Zeros stay zero.
    """
    out = {}
    for name, b in bits.items():
        owner, attr, p = _param(module, name)
        sw = SharedWeight.from_weight(p.detach().cpu().numpy(), 2**b, init=init, seed=seed)
        cb = Codebook(sw.codebook, sw.labels, p.device, p.dtype)
        parametrize.register_parametrization(owner, attr, cb, unsafe=True)
        owner.parametrizations[attr].original.requires_grad_(False)
        out[name] = cb
    return out


def state_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """The module's state as NumPy arrays under plain names (parametrized weights materialised)."""
    arrays: dict[str, np.ndarray] = {}
    for key, value in module.state_dict().items():
        if ".parametrizations." in f".{key}" or key.startswith("parametrizations."):
            continue
        arrays[key] = value.detach().cpu().numpy()
    for mod_name, mod in module.named_modules():
        if parametrize.is_parametrized(mod):
            for attr in mod.parametrizations:
                key = f"{mod_name}.{attr}" if mod_name else attr
                arrays[key] = getattr(mod, attr).detach().cpu().numpy()
    return arrays


def export(module: nn.Module, path: str | os.PathLike, *, index_bits: int = 5,
           metadata: Mapping[str, Any] | None = None, graph: Any = None) -> None:
    """Save ``module`` to a .dc file, exactly: weights are stored as they are (no further pruning).

    Weights with at most 256 distinct nonzero values get a sparse codebook
    encoding wide enough for all of them; other tensors follow the library's
    defaults with pruning switched off.
    """
    import dcformat

    arrays = state_arrays(module)
    overrides = {}
    for name, a in arrays.items():
        if a.dtype.kind == "f" and a.ndim in (2, 4):
            distinct = np.unique(a[a != 0]).size
            if 0 < distinct <= 256:
                bits = max(1, math.ceil(math.log2(distinct)))
                overrides[name] = {"encoding": "sparse", "code_bits": bits, "index_bits": index_bits}
            else:
                overrides[name] = {"encoding": "raw"}
    config = dcformat.CompressionConfig(density=None, overrides=overrides)
    dcformat.save(path, arrays, config=config, metadata=metadata, graph=graph)
