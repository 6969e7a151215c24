"""Figures and animations: one style, loss plots, truth-vs-prediction movies with the field."""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

with warnings.catch_warnings():
    # SciencePlots 2.2 calls two helpers matplotlib 3.11 deprecated; the styles still load.
    warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
    import scienceplots  # noqa: F401  (registers the "science" styles)
from matplotlib.animation import FuncAnimation

from ..metrics import to_numpy
from ..models import field_device, velocity_function
from ..validation import require_int_at_least, require_positive

TRUTH_COLOR = "tab:blue"
PRED_COLOR = "tab:red"
FIELD_COLOR = "0.6"


def use_style() -> None:
    plt.style.use(["science", "no-latex"])
    plt.rcParams.update({"figure.dpi": 110, "font.size": 10, "animation.embed_limit": 40})


def closed_curve(curve: np.ndarray) -> np.ndarray:
    """The polygon (N, 2) with its first point repeated at the end, so a line plot draws the closing edge."""
    return np.concatenate([curve, curve[:1]], axis=0)


def plot_history(history: dict, axes=None):
    """Training loss per epoch and cumulative absolute deviation, both on log axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].plot(history["epoch"], history["mse"], lw=0.8)
    axes[0].set_ylabel("MSE over the full rollout")
    axes[1].plot(history["epoch"], history["cum_abs_dev"], lw=0.8)
    axes[1].set_ylabel(r"$\sum |X_\theta - X_{true}|$")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].figure.tight_layout()
    return axes


def quiver_grid(extent: float, grid_size: int = 15) -> np.ndarray:
    """The points (G, 2) where a figure draws a field's arrows: a grid_size x grid_size square
    grid over [-extent, extent]^2, row by row (x varies fastest). One grid for the animations
    and the explorer's still frames, so their arrows sit at the same places."""
    extent = require_positive("extent", extent)
    axis = np.linspace(-extent, extent, require_int_at_least("grid_size", grid_size, 2))
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


@torch.no_grad()
def _field_frames(field, t, extent: float):
    """The field's velocity on the quiver grid at every frame time; None without a positional field."""
    if field is None:
        return None
    velocity_at = velocity_function(field)
    grid = torch.tensor(quiver_grid(extent), dtype=torch.float32, device=field_device(field))
    frames = [velocity_at(torch.tensor(tk, device=grid.device), grid) for tk in t]
    return None if frames[0] is None else [to_numpy(f) for f in frames]


def animate(t, truth, pred=None, field=None, *, title="Breathing ellipse", fps=15):
    """An embeddable HTML animation: truth (blue), prediction (red), learned field (grey quiver).

    Returns IPython's HTML object holding a <video> (ffmpeg from imageio-ffmpeg) or, if no
    encoder works, matplotlib's JavaScript player.
    """
    t, truth = to_numpy(t), to_numpy(truth)
    pred = None if pred is None else to_numpy(pred)
    extent = 1.15 * float(np.abs(truth).max() if pred is None else max(np.abs(truth).max(), np.abs(pred).max()))
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal", xlabel="x", ylabel="y")
    ax.grid(alpha=0.3)
    quiver, speeds = None, _field_frames(field, t, extent)
    if speeds is not None:
        xx, yy = quiver_grid(extent).T
        fastest = max(1e-9, max(float(np.linalg.norm(s, axis=1).max()) for s in speeds))
        spacing = xx[1] - xx[0]
        # one fixed scale for all frames: the fastest arrow spans one grid spacing
        quiver = ax.quiver(xx, yy, speeds[0][:, 0], speeds[0][:, 1], color=FIELD_COLOR,
                           angles="xy", scale_units="xy", scale=fastest / spacing, width=0.004)
    (truth_line,) = ax.plot([], [], color=TRUTH_COLOR, lw=2, label="truth")
    pred_line = None
    if pred is not None:
        (pred_line,) = ax.plot([], [], color=PRED_COLOR, lw=1.6, ls="--", label="neural ODE")
    ax.legend(loc="upper right", fontsize=8)
    heading = ax.set_title("")

    def draw(k):
        truth_line.set_data(*closed_curve(truth[k]).T)
        if pred_line is not None:
            pred_line.set_data(*closed_curve(pred[k]).T)
        if quiver is not None:
            quiver.set_UVC(speeds[k][:, 0], speeds[k][:, 1])
        heading.set_text(f"{title} | t = {t[k]:.3f}")
        return [a for a in (truth_line, pred_line, quiver, heading) if a is not None]

    anim = FuncAnimation(fig, draw, frames=len(t), interval=1000 / fps, blit=False)
    html = animation_html(anim)
    plt.close(fig)
    return html


def animation_html(anim):
    """<video> via imageio-ffmpeg's ffmpeg; matplotlib's JS player if that fails."""
    from IPython.display import HTML

    try:
        import imageio_ffmpeg

        matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        return HTML(anim.to_html5_video())
    except Exception:  # no ffmpeg binary or encoder: the JS player needs none
        return HTML(anim.to_jshtml())
