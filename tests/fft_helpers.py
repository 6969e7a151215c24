"""What the descriptor tests and the Fourier study tests share: the FFT's rounding and a smooth test curve."""

import math

import torch

from breathing_lib.checks import rounding
from breathing_lib.descriptors import wavenumbers

# An FFT rounds each descriptor to a few machine epsilons (float64) of the curve's size, and a different FFT kernel
# rounds differently: this machine's measured up to 5 eps where these tests compare, an Intel Xeon's 54 eps off
# the ellipse at N = 512 (sliding probe).  256 eps bounds both, still eight orders below the polygon and aliasing
# effects the tests tell apart.
FFT_ULPS = 256


def size(*curves) -> float:
    """max |x|, |y| over the curves: the scale descriptors and points round at."""
    return max(float(c.abs().max()) for c in curves)


def loss_rounding(scale, loss, ulps=FFT_ULPS, dtype=torch.float64) -> float:
    """How far rounding moves a mean square |d|^2 of differences d of curves of size `scale`: each d moves by
    at most r = ulps eps scale, so the mean by r (2 sqrt(loss) + r); r^2 where the difference is zero."""
    r = rounding(scale, dtype, ulps)
    return r * (2 * math.sqrt(float(loss)) + r)


def random_band_limited(modes: int, batch=(), seed=0) -> torch.Tensor:
    """Complex coefficients k = -modes..modes decaying with |k|: a smooth closed curve."""
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, 2 * modes + 1)
    c = torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                      torch.randn(shape, generator=g, dtype=torch.float64))
    return c / (1.0 + wavenumbers(modes).abs()) ** 2
