"""The public call: `inpaint(images, masks, params, config, seed)`.

    from inpaint_jax import checkpoints, inpainting, masks
    config, g_vars, d_vars = checkpoints.load_model("runs/celeba")
    m = masks.make_masks("center", 64, seed=0, indices=range(len(images)))
    out = inpainting.inpaint(images, m, {"generator": g_vars, "discriminator": d_vars}, config)
    out.blended  # [B, 64, 64, 3] in [-1, 1]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from inpaint_jax import blend
from inpaint_jax import search as search_lib


class InpaintResult(NamedTuple):
  """blended: Poisson-blended result [B, S, S, 3] in [-1, 1], known pixels exactly the input;
  generated: G(ẑ) [B, S, S, 3]; z: ẑ [B, z_dim]; losses: dict of [B] arrays
  (context, prior, total) and `restarts` [B, R]; curve: [B, T] loss curve (T may be 0)."""

  blended: np.ndarray
  generated: np.ndarray
  z: np.ndarray
  losses: dict
  curve: np.ndarray


def validate(images, masks, image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Checks a batch and returns float32 copies; raises ValueError naming the problem.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S] of 0/1 (1 = known).
  """
  images = np.asarray(images, np.float32)
  masks = np.asarray(masks, np.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
  if masks.shape != images.shape[:3]:
    raise ValueError(f"masks must be [B, H, W] = {images.shape[:3]} to match the images, "
                     f"got shape {masks.shape}")
  if image_size is not None and images.shape[1:3] != (image_size, image_size):
    raise ValueError(f"images are {images.shape[1]}x{images.shape[2]} but the model makes "
                     f"{image_size}x{image_size}")
  if not np.isfinite(images).all():
    raise ValueError(f"images contain {int((~np.isfinite(images)).sum())} NaN or infinite values")
  if not np.isfinite(masks).all():
    raise ValueError(f"masks contain {int((~np.isfinite(masks)).sum())} NaN or infinite values")
  if images.min() < -1.0 or images.max() > 1.0:
    raise ValueError(f"image values must lie in [-1, 1], got [{images.min():.4g}, "
                     f"{images.max():.4g}]")
  bad = ~np.isin(masks, (0.0, 1.0))
  if bad.any():
    raise ValueError(f"masks must be binary (0 = missing, 1 = known); found {int(bad.sum())} "
                     f"other values, e.g. {masks[bad][0]:.4g}")
  return images, masks


def inpaint(images, masks, params: dict[str, Any], config: ml_collections.ConfigDict,
            seed: int = 0) -> InpaintResult:
  """Fills the holes of `images` (Yeh et al. 2017): latent search, then Poisson blending.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S] with 1 = known, 0 = missing.
  params: {'generator': g_vars, 'discriminator': d_vars}; config: a config with `model`
  and `search` blocks. The same seed gives the same result. Images whose mask has no
  hole come back unchanged. Batches larger than `config.search.batch_size` are split.
  """
  images, masks = validate(images, masks, config.model.image_size)
  cfg = config.search
  step = max(1, int(cfg.get("batch_size", len(images)) or len(images)))
  parts = []
  for lo in range(0, len(images), step):
    rng = jax.random.fold_in(jax.random.PRNGKey(seed), lo)
    res = search_lib.search(params["generator"], params["discriminator"], images[lo:lo + step],
                            masks[lo:lo + step], rng, config.model, cfg)
    parts.append(jax.device_get(res))
  cat = lambda name: np.concatenate([getattr(p, name) for p in parts])
  generated = cat("generated")
  if cfg.blend:
    blended = np.asarray(blend.poisson_blend(jnp.asarray(images), jnp.asarray(generated),
                                             jnp.asarray(masks), cfg.blend_tol, cfg.blend_maxiter))
  else:
    blended = np.where(masks[..., None] > 0, images, generated)
  losses = {"context": cat("context_loss"), "prior": cat("prior_loss"),
            "total": cat("total_loss"), "restarts": cat("restart_losses")}
  return InpaintResult(blended=blended, generated=generated, z=cat("z"), losses=losses,
                       curve=cat("curve"))
