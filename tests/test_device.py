import pytest
import torch

from breathing_lib.cli import _parser
from breathing_lib.device import DEVICES, resolve_device, synchronize
from breathing_lib.validation import ConfigError


@pytest.mark.parametrize("cuda", [False, True])
def test_resolve_device_serves_every_listed_choice(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    served = {name: resolve_device(name).type for name in DEVICES if cuda or name != "cuda"}
    assert served == ({"auto": "cuda", "cpu": "cpu", "cuda": "cuda"} if cuda else {"auto": "cpu", "cpu": "cpu"})
    assert resolve_device(None).type == served["auto"]


def test_resolve_device_refuses_cuda_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")


def test_resolve_device_names_the_parameter_on_a_bad_choice():
    with pytest.raises(ConfigError, match="device must be one of auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.parametrize("command", [["train", "--out", "x"], ["predict", "m.pt", "--out", "x.npz"],
                                     ["evaluate", "m.pt"], ["bench"]])
def test_every_device_option_offers_the_device_choices(command):
    for name in DEVICES:
        assert _parser().parse_args([*command, "--device", name]).device == name
    with pytest.raises(SystemExit):
        _parser().parse_args([*command, "--device", "tpu"])


def test_synchronize_waits_on_cuda_only(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    synchronize("cpu")
    synchronize(torch.device("cpu"))
    assert waited == []  # the CPU's work is done when the call returns
    synchronize("cuda:0")
    assert waited == [torch.device("cuda:0")]
