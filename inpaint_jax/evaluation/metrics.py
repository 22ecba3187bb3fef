"""Every score the project reports, computed here and nowhere else: PSNR (over the hole and
the whole image) and SSIM of images in [-1, 1], on the [0, 255] scale.

Table 1's PSNR appears to be taken over the missing pixels only (the paper does not say;
BUILD_NOTES.md): `psnr(..., region=1 - mask)`. The whole-image figure is `region=None`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

_PEAK = 255.0


def _to_255(x):
  return (jnp.asarray(x, jnp.float32) + 1.0) * 127.5


def psnr(a: jax.Array, b: jax.Array, region: jax.Array | None = None) -> jax.Array:
  """PSNR in dB per image. a, b: [B, H, W, C] in [-1, 1]; region: [B, H, W] 0/1 or None.

  The mean squared error is taken over the pixels (all channels) where region is 1, or
  over the whole image. An empty region or identical images give +inf.
  """
  sq = jnp.square(_to_255(a) - _to_255(b))
  if region is None:
    mse = sq.mean(axis=(1, 2, 3))
  else:
    w = jnp.broadcast_to(jnp.asarray(region, jnp.float32)[..., None], sq.shape)
    mse = (sq * w).sum(axis=(1, 2, 3)) / jnp.maximum(w.sum(axis=(1, 2, 3)), 1.0)
    mse = jnp.where(w.sum(axis=(1, 2, 3)) > 0, mse, 0.0)
  return jnp.where(mse > 0, 10.0 * jnp.log10(_PEAK ** 2 / jnp.maximum(mse, 1e-20)), jnp.inf)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
  x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-0.5 * jnp.square(x / sigma))
  return g / g.sum()


def _filter_valid(x: jax.Array, g: jax.Array) -> jax.Array:
  """Separable 'valid' Gaussian filter of [H, W]."""
  x = jax.vmap(lambda row: jnp.convolve(row, g, mode="valid"))(x)
  return jax.vmap(lambda col: jnp.convolve(col, g, mode="valid"), in_axes=1, out_axes=1)(x)


def ssim(a: jax.Array, b: jax.Array, window: int = 11, sigma: float = 1.5) -> jax.Array:
  """Mean SSIM per image (Wang et al. 2004: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03).

  a, b: [B, H, W, C] in [-1, 1], compared on the [0, 255] scale; the mean is over the
  positions where the whole window fits (as Wang et al. and scikit-image) and channels.
  """
  g = _gaussian_window(window, sigma)
  c1, c2 = (0.01 * _PEAK) ** 2, (0.03 * _PEAK) ** 2

  def one_channel(x, y):
    f = functools.partial(_filter_valid, g=g)
    mx, my = f(x), f(y)
    vx = f(x * x) - mx * mx
    vy = f(y * y) - my * my
    cxy = f(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()

  per_channel = jax.vmap(one_channel, in_axes=(-1, -1))
  per_image = jax.vmap(lambda x, y: per_channel(x, y).mean())
  return per_image(_to_255(a), _to_255(b))


def scores(filled, images, masks, generated=None) -> dict[str, np.ndarray]:
  """Per-image scores of a fill, each float [B]: psnr_hole (Table 1), psnr_whole, ssim, and
  with `generated` (G(ẑ) before blending) psnr_hole_generated.

  filled, images, generated: [B, S, S, 3] in [-1, 1]; masks: [B, S, S], 1 = known.
  """
  hole = 1.0 - jnp.asarray(masks, jnp.float32)
  out = {"psnr_hole": psnr(filled, images, hole), "psnr_whole": psnr(filled, images),
         "ssim": ssim(filled, images)}
  if generated is not None:
    out["psnr_hole_generated"] = psnr(generated, images, hole)
  return {k: np.asarray(v, np.float64) for k, v in out.items()}
