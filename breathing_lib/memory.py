"""Peak memory of a piece of PyTorch work, measured, not estimated.

On CUDA the caching allocator counts it (torch.cuda.max_memory_allocated). On the
CPU there is no such counter, so a dispatch mode watches every operator: each new
tensor storage adds its bytes, and a weak reference on the storage subtracts them
when PyTorch frees it. Tensors alive before the block (parameters, inputs) are
not counted: the figure is what the work itself allocates at its worst moment.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .device import synchronize


class _StorageCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._count(leaf.untyped_storage())
        return out

    def _count(self, storage) -> None:
        key = storage.data_ptr()
        if key in self._seen or storage.nbytes() == 0:
            return  # a view of a storage already counted
        self._seen.add(key)
        self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key, storage.nbytes())

    def _free(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.current -= nbytes


class peak_memory:
    """Context manager: `with peak_memory(device) as m: ...`, then m.bytes is the peak."""

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.bytes = 0

    def __enter__(self):
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._counter = _StorageCounter().__enter__()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._counter.__exit__(*exc)
            self.bytes = self._counter.peak
        return False
