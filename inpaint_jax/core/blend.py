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


def _shifts(x: jax.Array) -> tuple[jax.Array, ...]:
  """The 4-neighbours of every pixel of [H, W], a border pixel its own ghost (Neumann)."""
  p = jnp.pad(x, 1, mode="edge")
  return p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]


def neumann_laplacian(x: jax.Array) -> jax.Array:
  """(L x)_i = Σ_{j∈N(i)} (x_i - x_j) for one channel [H, W], reflecting border."""
  n, s, w, e = _shifts(x)  # a ghost equal to its pixel contributes 0
  return 4.0 * x - n - s - w - e


def blend_channel(target: jax.Array, source: jax.Array, mask: jax.Array, tol: float = 1e-6,
                  maxiter: int = 2000) -> jax.Array:
  """Eq. 4 for one channel: target y, source G(ẑ), mask (1 = known), all [H, W]."""
  return _solve(target, source, neumann_laplacian(source), mask, tol, maxiter)


def _solve(target, source, guidance, mask, tol, maxiter):
  """L x = guidance on the missing pixels, x = target on the known ones (CG from G(ẑ))."""
  hole = 1.0 - mask

  def operator(v):
    return hole * neumann_laplacian(hole * v)

  rhs = hole * (guidance - neumann_laplacian(mask * target))
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


# Dense known pixels (random masks, thin strokes): there the known pixels themselves say
# more about the hole than G(ẑ) does, and the smoothest fill that interpolates them beats
# G(ẑ)'s gradients. The mixed blend keeps Eq. 4's form with a guidance field that, edge by
# edge, mixes G(ẑ)'s gradients with those of a biharmonic interpolant s of the known pixels,
# G's weight rising with the share of missing pixels around the edge.


def biharmonic_channel(target: jax.Array, mask: jax.Array, tol: float = 1e-5,
                       maxiter: int = 400) -> jax.Array:
  """The biharmonic fill of one channel [H, W]: Δ²x = 0 on missing pixels, x = y on known
  ones (Δ the Neumann Laplacian above). Δ is symmetric, so the system is the normal equation
  of min ‖Δx‖² and CG applies; from the harmonic fill, `maxiter` caps it where holes are
  wide (there the mixed blend follows G(ẑ) anyway)."""
  hole = 1.0 - mask
  known = mask * target

  def operator(v):
    return hole * neumann_laplacian(neumann_laplacian(hole * v))

  rhs = -hole * neumann_laplacian(neumann_laplacian(known))
  start = blend_channel(target, jnp.zeros_like(target), mask, tol, maxiter)  # harmonic fill
  solution, _ = jax.scipy.sparse.linalg.cg(operator, rhs, x0=hole * start, tol=tol, atol=0.0,
                                           maxiter=maxiter)
  return jnp.where(mask > 0, target, solution)


def generator_weight(mask: jax.Array, window: int, low: float, high: float,
                     thick: int = 0) -> jax.Array:
  """Per pixel of [H, W], G(ẑ)'s share of the mixed guidance: 0 where at most `low` of the
  window × window pixels around it are missing, 1 where at least `high` are, linear between
  (the window clipped at the border); and 1 on the thick parts of the hole (`thick` > 0):
  pixels covered by a thick × thick square of missing pixels (the hole's morphological
  opening), where G(ẑ) is all there is to go on, and the known pixels bordering them, so
  that a hole made only of thick parts (a box, a half) is blended by Eq. 4 exactly."""
  hole = 1.0 - mask
  box = lambda x: jax.lax.reduce_window(x, 0.0, jax.lax.add, (window, window), (1, 1), "SAME")
  missing = box(hole) / box(jnp.ones_like(hole))
  weight = jnp.clip((missing - low) / jnp.maximum(high - low, 1e-6), 0.0, 1.0)
  if thick:
    square = (thick, thick)
    # Outside the image counts as missing, so a hole along the border is thick there too.
    eroded = jax.lax.reduce_window(hole, 1.0, jax.lax.min, square, (1, 1), "SAME")
    grown = (thick + 2, thick + 2)  # the opening and its 1-pixel rim
    opened = jax.lax.reduce_window(eroded, 0.0, jax.lax.max, grown, (1, 1), "SAME")
    weight = jnp.maximum(weight, opened)
  return weight


def mixed_blend_channel(target: jax.Array, source: jax.Array, smooth: jax.Array,
                        weight: jax.Array, mask: jax.Array, tol: float = 1e-6,
                        maxiter: int = 2000) -> jax.Array:
  """Eq. 4 with a mixed guidance field, one channel, all [H, W]: on missing pixel i,
  Σ_j (x_i - x_j) = Σ_j [w_ij (g_i - g_j) + (1 - w_ij)(s_i - s_j)], w_ij = (w_i + w_j) / 2;
  g = G(ẑ), s = smooth, w = weight (1 everywhere: `blend_channel`)."""
  # Σ_j (g_i - g_j) plus each edge's share of (s - g) differences: where w = 1 the correction
  # is exactly 0, and the system Eq. 4's to the bit.
  correction = sum((1.0 - 0.5 * (weight + w_j)) * ((smooth - s_j) - (source - g_j))
                   for w_j, g_j, s_j in zip(_shifts(weight), _shifts(source), _shifts(smooth)))
  return _solve(target, source, neumann_laplacian(source) + correction, mask, tol, maxiter)


@functools.partial(jax.jit, static_argnames=("maxiter", "window", "thick", "smooth_maxiter"))
def mixed_blend(targets: jax.Array, sources: jax.Array, masks: jax.Array, window: int,
                low: float, high: float, thick: int = 0, tol: float = 1e-6,
                maxiter: int = 2000, smooth_maxiter: int = 50) -> jax.Array:
  """`poisson_blend` whose guidance leans to the biharmonic fill of the known pixels where
  they are dense (`generator_weight`); shapes and guarantees as `poisson_blend`'s."""

  def one_image(y, g, m):
    weight = generator_weight(m, window, low, high, thick)
    smooth = jax.vmap(lambda t: biharmonic_channel(t, m, 1e-5, smooth_maxiter), -1, -1)(y)
    per_channel = jax.vmap(mixed_blend_channel, in_axes=(-1, -1, -1, None, None, None, None),
                           out_axes=-1)
    return per_channel(y, g, smooth, weight, m, tol, maxiter)

  return jax.vmap(one_image)(targets, sources, masks)
