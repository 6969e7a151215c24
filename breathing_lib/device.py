"""Run-time device choice: CUDA when present, else CPU; never a module-level global."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .validation import ConfigError, require_choice

DEVICES = ("auto", "cpu", "cuda")  # what every `device` argument and `--device` option accepts


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = require_choice("device", name or "auto", DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


def synchronize(device) -> None:
    """Wait for the kernels queued on `device`, so a timer or memory reading after it counts
    them: CUDA returns before its work is done. A no-op on the CPU, whose work is already done."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def one_thread_on_cpu(device="cpu"):
    """Run CPU work on one thread, restoring the setting after. Tensors this small gain nothing
    from splitting each op across cores (a fit: 2.8 s on one thread, 7.4 s on two), and on a busy
    machine the threads wait on each other. CUDA work is left as it is."""
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
