"""The losses of the latent search (Yeh et al. Sec. 3.2), per image: Eq. 3, 5 and 6.

Defaults are the paper's; the alternatives exist for ablations:
  context: 'l1' (Eq. 5) or 'l2';  prior: 'log1m' (Eq. 6) or 'neglogd' (-log D, used by
  some public ports);  weighting: 'eq3' (Eq. 3) or 'uniform' (W = M).
"""

from __future__ import annotations

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

PRIOR_WEIGHT = 0.003  # lambda, Sec. 3.4


# Eq. 3
def importance_weights(mask: jax.Array, window: int = 7) -> jax.Array:
  """W_i = (missing pixels in the window around i) / (pixels in that window) if i is known, else 0.

  mask: [H, W] with 1 = known. At the border the window is cut to the image: it counts,
  and divides by, only the pixels that exist, so W_i is always a fraction of real pixels.
  Returns [H, W] in [0, 1].
  """
  mask = jnp.asarray(mask, jnp.float32)
  missing = lax.reduce_window(1.0 - mask, 0.0, lax.add, (window, window), (1, 1), "SAME")
  # The count depends on the shape alone: made here, not by a reduce_window of ones, which
  # XLA constant-folds slowly (> 1 s and an alarm on stderr per compiled program).
  count = np.outer(*(_pixels_in_window(n, window) for n in mask.shape)).astype(np.float32)
  return jnp.where(mask > 0, missing / count, 0.0)


def _pixels_in_window(n: int, window: int) -> np.ndarray:
  """For each i in [0, n): how many of the `window` positions around i ("SAME" padding:
  (window - 1) // 2 before, the rest after) lie inside [0, n)."""
  before = (window - 1) // 2
  i = np.arange(n)
  return np.minimum(i + window - 1 - before, n - 1) - np.maximum(i - before, 0) + 1


def context_weights(mask: jax.Array, weighting: str = "eq3", window: int = 7) -> jax.Array:
  """W for one mask [H, W] (1 = known): Eq. 3's importance weights or plain M."""
  if weighting == "eq3":
    return importance_weights(mask, window)
  if weighting == "uniform":
    return jnp.asarray(mask, jnp.float32)
  raise ValueError(f"unknown weighting {weighting!r}: 'eq3' or 'uniform'")


# Eq. 5
def context_loss(generated: jax.Array, image: jax.Array, weights: jax.Array,
                 kind: str = "l1") -> jax.Array:
  """||W ⊙ (G(z) - y)||_1, summed over pixels and channels.

  generated, image: [H, W, C] in [-1, 1]; weights: [H, W]. Returns a scalar.
  """
  diff = weights[..., None] * (generated - image)
  if kind == "l1":
    return jnp.abs(diff).sum()
  if kind == "l2":
    return jnp.square(diff).sum()
  raise ValueError(f"unknown context loss {kind!r}: 'l1' or 'l2'")


# Eq. 6
def prior_loss(d_logit: jax.Array, weight: float = PRIOR_WEIGHT, kind: str = "log1m") -> jax.Array:
  """λ·log(1 - D(G(z))) from D's logit l, stably: log(1 - σ(l)) = -softplus(l).

  'neglogd' gives λ·(-log D(G(z))) = λ·softplus(-l) instead.
  """
  if kind == "log1m":
    return -weight * jax.nn.softplus(d_logit)
  if kind == "neglogd":
    return weight * jax.nn.softplus(-d_logit)
  raise ValueError(f"unknown prior loss {kind!r}: 'log1m' or 'neglogd'")
