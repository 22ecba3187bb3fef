"""Every score the project reports, computed here and nowhere else: PSNR (over the hole and
the whole image) and SSIM of images in [-1, 1], on the [0, 255] scale.

Table 1's PSNR appears to be taken over the missing pixels only (the paper does not say;
BUILD_NOTES.md): `psnr(..., region=1 - mask)`. The whole-image PSNR and SSIM are dm-pix's
(DeepMind's image library for JAX; equal to the hand-written versions they replaced to
2e-7, and to scikit-image's, tests/test_metrics.py); the PSNR over a region stays ours
because dm-pix has no masked PSNR.
"""

from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

_PEAK = 255.0


def _to_255(x):
  return (jnp.asarray(x, jnp.float32) + 1.0) * 127.5


def psnr(a: jax.Array, b: jax.Array, region: jax.Array | None = None) -> jax.Array:
  """PSNR in dB per image. a, b: [B, H, W, C] in [-1, 1]; region: [B, H, W] 0/1 or None.

  The mean squared error is taken over the pixels (all channels) where region is 1, or
  over the whole image (dm-pix). An empty region or identical images give +inf.
  """
  if region is None:  # dB do not depend on the scale: [0, 1] as dm-pix expects
    return dm_pix.psnr((jnp.asarray(a, jnp.float32) + 1.0) / 2.0,
                       (jnp.asarray(b, jnp.float32) + 1.0) / 2.0)
  sq = jnp.square(_to_255(a) - _to_255(b))
  w = jnp.broadcast_to(jnp.asarray(region, jnp.float32)[..., None], sq.shape)
  count = w.sum(axis=(1, 2, 3))
  mse = jnp.where(count > 0, (sq * w).sum(axis=(1, 2, 3)) / jnp.maximum(count, 1.0), 0.0)
  return jnp.where(mse > 0, 10.0 * jnp.log10(_PEAK ** 2 / jnp.maximum(mse, 1e-20)), jnp.inf)


def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
  """Mean SSIM per image (Wang et al. 2004: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03),
  dm-pix's. a, b: [B, H, W, C] in [-1, 1], compared on the [0, 255] scale; the mean is over
  the positions where the whole window fits (as Wang et al. and scikit-image) and channels."""
  return dm_pix.ssim(_to_255(a), _to_255(b), max_val=_PEAK)


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
