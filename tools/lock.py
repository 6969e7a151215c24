"""Regenerate the locked environment: requirements.lock and environment.yml (`make lock`).

requirements.lock pins every package the book and its tests install, for every Python the
project supports (uv's universal resolution writes one pin per Python range, with markers).
The Makefile installs through it as constraints, so a clone resolves the same versions today
and next year. Torch is pinned to the release the Makefile installs; the CUDA runtime packages
that PyPI's Linux build of it needs are in the lock too, and the CPU build simply does not ask
for them. environment.yml gets the pins that apply to its Python (3.11 on x86-64 Linux).

    python tools/lock.py --torch 2.13.0
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ENVIRONMENT = ROOT / "environment.yml"
LOWEST_PYTHON = "3.10"
CONDA_PYTHON = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
                "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
LOCK_HEADER = """\
# Every package `make book` and `make test` install, at exact versions: the Makefile installs
# with `-c requirements.lock`. Written by `make lock` (tools/lock.py, uv's universal resolution
# from pyproject.toml's dependencies and its book, test, lab and notebook extras); do not edit by hand.
"""
ENVIRONMENT_HEADER = """\
# conda env create -f environment.yml && conda activate breathing-ellipse && pip install -e . --no-deps
# Written by `make lock` from requirements.lock: the same pins, for Python 3.11 on x86-64 Linux
# (tests/test_packaging.py checks that pyproject.toml, the lock and this file agree).
name: breathing-ellipse
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def locked_requirements(text: str) -> list[Requirement]:
    """The requirements of a lock file's text (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


def pins_for(requirements: list[Requirement], environment: dict) -> dict[str, str]:
    """Name -> pinned version of the requirements whose marker holds in `environment`."""
    return {r.name: str(r.specifier).removeprefix("==") for r in requirements
            if r.marker is None or r.marker.evaluate(environment)}


def compile_lock(torch_version: str, upgrade: bool = False) -> str:
    """uv's universal resolution; unless upgrade, the current lock's pins are kept as preferences
    (uv reads the output file's pins first), so adding a dependency moves no other version."""
    with tempfile.TemporaryDirectory() as tmp:
        pin, output = Path(tmp) / "torch.txt", Path(tmp) / "lock.txt"
        pin.write_text(f"torch=={torch_version}\n")
        if LOCK.exists() and not upgrade:
            output.write_text(LOCK.read_text())
        subprocess.run(
            ["uv", "pip", "compile", "pyproject.toml", "--extra", "book", "--extra", "test", "--extra", "lab", "--extra", "notebook",
             "--universal", "--python-version", LOWEST_PYTHON, "-c", str(pin), "-o", str(output),
             "--no-header", "--no-annotate", "--quiet"],
            cwd=ROOT, check=True)
        return output.read_text()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", required=True, help="the torch release to lock, e.g. 2.13.0")
    parser.add_argument("--upgrade", action="store_true", help="re-resolve every pin, not only the new ones")
    args = parser.parse_args()
    body = compile_lock(args.torch, args.upgrade)
    LOCK.write_text(LOCK_HEADER + body)
    pins = pins_for(locked_requirements(body), CONDA_PYTHON)
    ENVIRONMENT.write_text(ENVIRONMENT_HEADER + "".join(f"      - {n}=={v}\n" for n, v in sorted(pins.items())))
    print(f"{LOCK.name}: {len(locked_requirements(body))} pins; {ENVIRONMENT.name}: {len(pins)} for Python 3.11")


if __name__ == "__main__":
    main()
