"""Velocity fields for the neural ODE dS/dt = f_theta(S, t).

The state S of a point starts with its position (x, y). Some models carry more:
the phase model appends a phase phi, the second-order models the velocity
(vx, vy). Every field says how to build its state from observed positions
(`augment`), what the state's rate is along an observed motion (`augment_rate`),
and how to read positions back (`positions`), so training and inference treat
all of them alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .validation import require_choice, require_positive

TIME_SCALES = ("window", "std")


def feature_stats(t: torch.Tensor, curves: torch.Tensor, time_scale: str = "window") -> dict[str, torch.Tensor]:
    """Normalisation statistics of a data set: per-coordinate mean/std, the time window,
    and the typical size of velocity and acceleration (rough differences suffice for scales).

    Fields divide time by t_max - t_min and scale their output by X_std / (t_max - t_min).
    time_scale "window": t_max is the real end of the window, so normalised time runs over
    [0, 1]. "std" reproduces the original study, which stored the (unbiased) standard
    deviation of the sample times under the name t_max: with t_min = 0 its time input runs
    over [0, t_final / std(t)] and its output scale is t_final / std(t) times larger.
    """
    require_choice("time_scale", time_scale, TIME_SCALES)
    velocity = torch.gradient(curves, spacing=(t,), dim=0)[0]
    acceleration = torch.gradient(velocity, spacing=(t,), dim=0)[0]
    return {
        "X_mean": curves.mean(dim=(0, 1)),
        "X_std": curves.std(dim=(0, 1)) + 1e-6,
        "t_min": t.min(),
        "t_max": t.max() if time_scale == "window" else t.std(),
        "V_std": velocity.std(dim=(0, 1)) + 1e-6,
        "A_std": acceleration.std(dim=(0, 1)) + 1e-6,
    }


def _mlp(inputs: int, outputs: int) -> nn.Sequential:
    """The seed's body: inputs-32-64-outputs with tanh, for every model, so budgets compare."""
    return nn.Sequential(nn.Linear(inputs, 32), nn.Tanh(), nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, outputs))


class Field(nn.Module):
    """A field on states whose first two coordinates are the point's position."""

    needs_velocity = False  # does the state include the velocity (so a start needs V(0))?

    def augment(self, t, x: torch.Tensor, v: torch.Tensor | None) -> torch.Tensor:
        """The state of points at positions x (and velocities v) at time(s) t."""
        return x

    def augment_rate(self, t, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """d(state)/dt along a motion with velocity v and acceleration a: the collocation target."""
        return v

    def positions(self, state: torch.Tensor) -> torch.Tensor:
        return state[..., :2]

    def velocity_at(self, t, x: torch.Tensor) -> torch.Tensor | None:
        """dX/dt at positions x and time t, or None when the state's velocity is not a function of them."""
        return self.positions(self(t, self.augment(t, x, None)))


class _Normalised(Field):
    """Holds the data's normalisation so every model sees inputs of order one."""

    def __init__(self, stats: dict | None = None):
        super().__init__()
        stats = stats or {}
        self._buffers_from(stats, X_mean=torch.zeros(2), X_std=torch.ones(2), t_min=0.0, t_max=1.0)

    def _buffers_from(self, stats: dict, **defaults) -> None:
        for name, default in defaults.items():
            self.register_buffer(name, torch.as_tensor(stats.get(name, default)).float().clone())

    @property
    def span(self) -> torch.Tensor:
        return self.t_max - self.t_min

    def _x(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.X_mean) / self.X_std

    def _t(self, t, h: torch.Tensor) -> torch.Tensor:
        """Normalised time as a column (..., 1) matching h; t a scalar or one time per batch row."""
        t_norm = ((torch.as_tensor(t, device=h.device) - self.t_min) / self.span).to(h.dtype)
        return t_norm[..., None].expand(*h.shape[:-1], 1)

    def _rate(self) -> torch.Tensor:
        """Physical units of a normalised rate: position scale over the time window."""
        return self.X_std / self.span

    def features(self, t, state: torch.Tensor) -> torch.Tensor:
        """What the network sees at a state and time, normalised: here (x, y, t), the input of
        every time-input model; the others say what they see instead. Public so an analysis can
        probe the network (e.g. its first layer) without repeating the normalisation."""
        return torch.cat([self._x(state), self._t(t, state)], dim=-1)

    @property
    def first_layer(self) -> nn.Linear:
        """The layer that reads `features`: its pre-activations show where the tanh units saturate."""
        return self.net[0]


class VelocityField(_Normalised):
    """The seed's field: [x, y, t] normalised -> 3-32-64-2 tanh MLP -> velocity in physical units."""

    def __init__(self, stats: dict | None = None):
        super().__init__(stats)
        self.net = _mlp(3, 2)

    def forward(self, t, h: torch.Tensor) -> torch.Tensor:
        """h (..., 2); t a scalar, or one time per batch row broadcastable to h[..., 0]."""
        return self.net(self.features(t, h)) * self._rate()


class AutonomousField(_Normalised):
    """f(x, y): the same network without the time input. One arrow per point, for all time."""

    def __init__(self, stats: dict | None = None):
        super().__init__(stats)
        self.net = _mlp(2, 2)

    def features(self, t, state: torch.Tensor) -> torch.Tensor:
        """(x, y) normalised: no time input."""
        return self._x(state)

    def forward(self, t, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.features(t, h)) * self._rate()


class PhaseField(_Normalised):
    """State [x, y, phi] with dphi/dt = omega; the network sees (x, y, sin phi, cos phi).

    The augmented system is autonomous and periodic in phi by construction, so it can
    repeat the motion beyond the training window. omega is fixed or learned.
    """

    def __init__(self, stats: dict | None = None, omega: float = 2 * math.pi, learn_omega: bool = False):
        super().__init__(stats)
        require_positive("omega", omega)
        self.net = _mlp(4, 2)
        self.omega = nn.Parameter(torch.tensor(float(omega)), requires_grad=learn_omega)

    def features(self, t, state: torch.Tensor) -> torch.Tensor:
        """(x, y) normalised and (sin phi, cos phi): the phase, not the time, is the input."""
        phi = state[..., 2:3]
        return torch.cat([self._x(state[..., :2]), torch.sin(phi), torch.cos(phi)], dim=-1)

    def forward(self, t, state: torch.Tensor) -> torch.Tensor:
        phi = state[..., 2:3]
        return torch.cat([self.net(self.features(t, state)) * self._rate(), self.omega.expand_as(phi)], dim=-1)

    def _phase(self, t, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=like.device, dtype=like.dtype)
        return (self.omega * t)[..., None].expand(*like.shape[:-1], 1)

    def augment(self, t, x, v):
        return torch.cat([x, self._phase(t, x)], dim=-1)

    def augment_rate(self, t, v, a):
        return torch.cat([v, self.omega.expand(*v.shape[:-1], 1)], dim=-1)


class SecondOrderField(_Normalised):
    """State [x, y, vx, vy]; the network gives the acceleration from (x, y, vx, vy), with no time input.

    Carrying the velocity lets trajectories of the positions cross, which a first-order
    autonomous field forbids; the price is a start that needs V(0) as well as X(0).
    """

    needs_velocity = True
    time_input = False  # does the network also see the (normalised) time?

    def __init__(self, stats: dict | None = None):
        super().__init__(stats)
        self._buffers_from(stats or {}, V_std=torch.ones(2), A_std=torch.ones(2))
        self.net = _mlp(5 if self.time_input else 4, 2)

    def features(self, t, state: torch.Tensor) -> torch.Tensor:
        """(x, y) and (vx, vy) normalised, and the normalised time if the model has a time input."""
        x, v = state[..., :2], state[..., 2:]
        features = [self._x(x), v / self.V_std] + ([self._t(t, state)] if self.time_input else [])
        return torch.cat(features, dim=-1)

    def forward(self, t, state: torch.Tensor) -> torch.Tensor:
        """state (..., 4); t a scalar, or one time per batch row broadcastable to state[..., 0]."""
        acceleration = self.net(self.features(t, state)) * self.A_std
        return torch.cat([state[..., 2:], acceleration], dim=-1)

    def augment(self, t, x, v):
        if v is None:
            raise ValueError("the second-order model's state needs velocities as well as positions")
        return torch.cat([x, v], dim=-1)

    def augment_rate(self, t, v, a):
        return torch.cat([v, a], dim=-1)

    def velocity_at(self, t, x):
        return None


class TimedSecondOrderField(SecondOrderField):
    """State [x, y, vx, vy]; the network gives the acceleration from (x, y, vx, vy, t).

    Markovian by construction: the acceleration of any motion dX/dt = f(X, t) is a function
    of (X, V, t). Here it is g(t) x, h(t) y exactly, smooth in position and time, so the
    velocity need not tell the phases of the motion apart. Time is normalised as in
    VelocityField; the start still needs V(0).
    """

    time_input = True


class StreamFunctionField(_Normalised):
    """A learned stream function psi(x, y, t); the velocity is its skew gradient (dpsi/dy, -dpsi/dx).

    Any such field is divergence-free, so it conserves area exactly (up to the integrator).
    The gradient of the 3-32-64-1 tanh network is written in closed form: no autograd
    inside the field, so it costs about two forward passes and works under no_grad,
    create_graph and the adjoint alike.
    """

    def __init__(self, stats: dict | None = None):
        super().__init__(stats)
        self.net = _mlp(3, 1)

    def stream_function(self, t, h: torch.Tensor) -> torch.Tensor:
        """psi in physical units (length^2 / time), shape h.shape[:-1]; defined up to a constant."""
        scale = self.X_std.prod() / self.span
        return self.net(self.features(t, h))[..., 0] * scale

    def forward(self, t, h: torch.Tensor) -> torch.Tensor:
        first, _, second, _, last = self.net
        z = self.features(t, h)
        a1 = torch.tanh(first(z))
        a2 = torch.tanh(second(a1))
        # chain rule through the layers: d psi / d z, shape (..., 3)
        grad = (((last.weight * (1 - a2**2)) @ second.weight) * (1 - a1**2)) @ first.weight
        # psi = (sx sy / span) psi_net(z), z = (x - m) / s: dpsi/dy = sx/span g_y, dpsi/dx = sy/span g_x
        sx, sy = self.X_std[0], self.X_std[1]
        return torch.stack([sx * grad[..., 1], -sy * grad[..., 0]], dim=-1) / self.span


def velocity_function(field):
    """f(t, x) -> velocity at positions x (or None, see Field.velocity_at). A plain module
    f(t, x) with no augmented state is its own velocity function."""
    return getattr(field, "velocity_at", field)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimiser or a gradient should see: those that require a gradient
    (a fixed omega, for one, stays out)."""
    return [p for p in model.parameters() if p.requires_grad]


def field_dtype(field: nn.Module, default: torch.dtype = torch.float64) -> torch.dtype:
    """The precision a field computes in (its first floating parameter or buffer); `default` for a
    field without any, such as the analytic one."""
    for tensor in (*field.parameters(), *field.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return default


def field_device(field: nn.Module) -> torch.device:
    """Where a field's tensors live (its first parameter or buffer); CPU if it has none."""
    for tensor in (*field.parameters(), *field.buffers()):
        return tensor.device
    return torch.device("cpu")


class AnalyticField(Field):
    """The exact field alpha(t) (x, -y) as a module, so it can be integrated and plotted like a learned one."""

    def __init__(self, problem):
        super().__init__()
        self.problem = problem

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.problem.velocity(h, t)


MODELS = {
    "time-input": VelocityField,
    "autonomous": AutonomousField,
    "phase": PhaseField,
    "second-order": SecondOrderField,
    "second-order-time": TimedSecondOrderField,
    "stream": StreamFunctionField,
}


# Names a model went by before: old checkpoints, configs and command lines still say them.
FORMER_NAMES = {"seed": "time-input"}  # the original study's f(x, y, t), renamed apart from the random seed


def model_name(name: str) -> str:
    """The current name of a model given by its current or former name; anything else is an error."""
    name = FORMER_NAMES.get(name, name)
    require_choice("model", name, tuple(MODELS))
    return name


def build_model(name: str, stats: dict | None = None, **options) -> Field:
    """A fresh field by name; options go to its constructor (the phase model's omega, learn_omega)."""
    return MODELS[model_name(name)](stats, **options)
