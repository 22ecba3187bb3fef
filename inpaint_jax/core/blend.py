"""Poisson blending (Pérez et al. 2003), Yeh et al. Eq. 4.

For each channel, x = y on known pixels and, on every missing pixel i, the 5-point
Laplacian of x equals that of G(ẑ):  Σ_{j∈N(i)} (x_i - x_j) = Σ_{j∈N(i)} (g_i - g_j).
N(i) holds the 4-neighbours inside the image: at the border the image is reflected
(Neumann condition), i.e. a neighbour outside equals the pixel itself and drops out.

Known pixels move to the right-hand side, leaving a symmetric positive (semi-)definite
system in the missing pixels, solved matrix-free with `jax.scipy.sparse.linalg.cg`
from x0 = G(ẑ) and vmapped over channels and images.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def neumann_laplacian(x: jax.Array) -> jax.Array:
  """(L x)_i = Σ_{j∈N(i)} (x_i - x_j) for one channel [H, W], reflecting border."""
  p = jnp.pad(x, 1, mode="edge")  # a ghost equal to its pixel contributes 0
  return 4.0 * x - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]


def blend_channel(target: jax.Array, source: jax.Array, mask: jax.Array, tol: float = 1e-6,
                  maxiter: int = 2000) -> jax.Array:
  """Eq. 4 for one channel: target y, source G(ẑ), mask (1 = known), all [H, W]."""
  hole = 1.0 - mask

  def operator(v):
    return hole * neumann_laplacian(hole * v)

  rhs = hole * (neumann_laplacian(source) - neumann_laplacian(mask * target))
  solution, _ = jax.scipy.sparse.linalg.cg(operator, rhs, x0=hole * source, tol=tol, atol=0.0,
                                           maxiter=maxiter)
  # An all-missing mask leaves only constants undetermined; CG from x0 = G(ẑ) returns G(ẑ).
  return jnp.where(mask > 0, target, solution)


@functools.partial(jax.jit, static_argnames=("maxiter",))
def poisson_blend(targets: jax.Array, sources: jax.Array, masks: jax.Array, tol: float = 1e-6,
                  maxiter: int = 2000) -> jax.Array:
  """Blends G(ẑ) into y so that known pixels stay exactly y.

  targets y, sources G(ẑ): [B, H, W, C] in [-1, 1]; masks: [B, H, W], 1 = known.
  Returns [B, H, W, C]; where the mask is 1 the result equals y bit for bit.
  """
  per_channel = jax.vmap(blend_channel, in_axes=(-1, -1, None, None, None), out_axes=-1)
  per_image = jax.vmap(per_channel, in_axes=(0, 0, 0, None, None))
  return per_image(targets, sources, masks, tol, maxiter)
