"""2-D toy distributions for flow matching: Gaussians, eight Gaussians, two moons, checkerboard, circles.

NumPy samplers driven by a `np.random.Generator`, so a batch is a pure function of its seed.
"""

from collections.abc import Callable

import numpy as np


def _gaussian(n, rng):
    return rng.standard_normal((n, 2))


def _eight_gaussians(n, rng, radius=4.0, std=0.5):
    angles = 2 * np.pi * rng.integers(0, 8, n) / 8
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    return centres + std * rng.standard_normal((n, 2))


def _moons(n, rng, noise=0.1):
    # Two interleaving half circles, centred and scaled to about [-3, 3].
    upper = rng.random(n) < 0.5
    theta = np.pi * rng.random(n)
    x = np.where(upper, np.cos(theta), 1 - np.cos(theta))
    y = np.where(upper, np.sin(theta), 0.5 - np.sin(theta))
    pts = np.stack([x - 0.5, y - 0.25], 1) * 2.5
    return pts + noise * 2.5 * rng.standard_normal((n, 2))


def _checkerboard(n, rng):
    x1 = rng.random(n) * 4 - 2
    x2 = rng.random(n) - rng.integers(0, 2, n) * 2.0
    x2 = x2 + np.floor(x1) % 2
    return np.stack([x1, x2], 1) * 1.5


def _circles(n, rng, noise=0.05):
    r = np.where(rng.random(n) < 0.5, 1.0, 2.5)
    theta = 2 * np.pi * rng.random(n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], 1) + noise * rng.standard_normal((n, 2))


TOY_DISTRIBUTIONS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "gaussian": _gaussian,
    "8gaussians": _eight_gaussians,
    "moons": _moons,
    "checkerboard": _checkerboard,
    "circles": _circles,
}


def sample_toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` float32 samples [n, 2] of the toy distribution `name`."""
    if name not in TOY_DISTRIBUTIONS:
        raise ValueError(f"unknown toy distribution {name!r}; valid: {sorted(TOY_DISTRIBUTIONS)}")
    if n < 1:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    return TOY_DISTRIBUTIONS[name](n, rng).astype(np.float32)
