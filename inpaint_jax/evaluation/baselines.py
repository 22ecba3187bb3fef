"""Classic inpainting baselines run beside ours: total variation, nearest neighbour, Telea.

All take images [B, S, S, 3] in [-1, 1] and masks [B, S, S] (1 = known) and return filled
images of the same shape whose known pixels equal the input exactly.
"""

from __future__ import annotations

import functools
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np

from inpaint_jax.data import images as images_lib


def _gradient(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Forward differences with a zero last row/column (Neumann border), [..., H, W]."""
  gx = jnp.zeros_like(x).at[..., :, :-1].set(x[..., :, 1:] - x[..., :, :-1])
  gy = jnp.zeros_like(x).at[..., :-1, :].set(x[..., 1:, :] - x[..., :-1, :])
  return gx, gy


def _divergence(px: jax.Array, py: jax.Array) -> jax.Array:
  """The negative adjoint of `_gradient`: <grad x, p> = -<x, div p>."""
  dx = jnp.concatenate([px[..., :, :1], px[..., :, 1:-1] - px[..., :, :-2], -px[..., :, -2:-1]],
                       axis=-1)
  dy = jnp.concatenate([py[..., :1, :], py[..., 1:-1, :] - py[..., :-2, :], -py[..., -2:-1, :]],
                       axis=-2)
  return dx + dy


def total_variation(x: jax.Array) -> jax.Array:
  """Isotropic TV per channel, summed: sum_i |grad x_i|_2 over [..., H, W]."""
  gx, gy = _gradient(x)
  return jnp.sum(jnp.sqrt(gx ** 2 + gy ** 2), axis=(-2, -1))


@functools.partial(jax.jit, static_argnames="iterations")
def tv_inpaint(images: jax.Array, masks: jax.Array, iterations: int = 500) -> jax.Array:
  """min_x TV(x) subject to x = y on the known pixels (Chambolle-Pock primal-dual).

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S]. The hole starts at the mean of the
  known pixels; every channel is solved on its own. Returns [B, S, S, 3].
  """
  y = jnp.moveaxis(jnp.asarray(images, jnp.float32), -1, 1)  # [B, 3, S, S]
  known = (jnp.asarray(masks) > 0)[:, None]
  mean = (jnp.sum(jnp.where(known, y, 0.0), axis=(2, 3), keepdims=True)
          / jnp.maximum(jnp.sum(known, axis=(2, 3), keepdims=True), 1))
  x = jnp.where(known, y, mean)
  # tau * sigma * ||grad||^2 <= 1 with ||grad||^2 <= 8 on a 2-D grid.
  tau = sigma = 1.0 / np.sqrt(8.0)

  def step(_, carry):
    x, x_bar, px, py = carry
    gx, gy = _gradient(x_bar)
    px, py = px + sigma * gx, py + sigma * gy
    norm = jnp.maximum(1.0, jnp.sqrt(px ** 2 + py ** 2))  # projection onto |p| <= 1
    px, py = px / norm, py / norm
    x_new = jnp.where(known, y, x + tau * _divergence(px, py))  # projection onto x = y there
    return x_new, 2.0 * x_new - x, px, py

  zeros = jnp.zeros_like(x)
  x, _, _, _ = jax.lax.fori_loop(0, iterations, step, (x, x, zeros, zeros))
  return jnp.clip(jnp.moveaxis(x, 1, -1), -1.0, 1.0)


@jax.jit
def _masked_distances(images: jax.Array, masks: jax.Array, candidates: jax.Array) -> jax.Array:
  """sum_p M_p (y_p - c_p)^2 for every (image, candidate) pair: [B, N].

  Expanded as sum M y^2 - 2 (M y) . c + M . c^2, two matrix products.
  """
  b, n = images.shape[0], candidates.shape[0]
  m = jnp.repeat(masks.reshape(b, -1, 1), 3, axis=2).reshape(b, -1)
  y = images.reshape(b, -1)
  c = candidates.reshape(n, -1)
  hi = jax.lax.Precision.HIGHEST
  return (jnp.sum(m * y * y, axis=1)[:, None] - 2.0 * jnp.matmul(m * y, c.T, precision=hi)
          + jnp.matmul(m, (c * c).T, precision=hi))


def nearest_neighbours(images: np.ndarray, masks: np.ndarray, library,
                       chunk: int = 1024) -> np.ndarray:
  """Index into `library` of the image closest to each input on its known pixels, [B].

  library: a random-access sequence of uint8 [S, S, 3] images (e.g. the training split),
  scanned in chunks so it never has to fit in memory as float32.
  """
  images, masks = jnp.asarray(images, jnp.float32), jnp.asarray(masks, jnp.float32)
  best = np.full(len(images), np.inf)
  best_index = np.zeros(len(images), np.int64)
  for lo in range(0, len(library), chunk):
    idx = np.arange(lo, min(lo + chunk, len(library)))
    c = images_lib.to_float(np.stack([library[int(i)] for i in idx]))
    d = np.asarray(_masked_distances(images, masks, jnp.asarray(c)))
    j = np.argmin(d, axis=1)
    better = d[np.arange(len(images)), j] < best
    best[better] = d[np.arange(len(images)), j][better]
    best_index[better] = idx[j[better]]
  return best_index


def nearest_neighbour_fill(images: np.ndarray, masks: np.ndarray, library) -> np.ndarray:
  """The hole filled with the pixels of the nearest library image on the known pixels."""
  index = nearest_neighbours(images, masks, library)
  donors = images_lib.to_float(np.stack([library[int(i)] for i in index]))
  return np.where(np.asarray(masks)[..., None] > 0, images, donors).astype(np.float32)


def telea_available() -> bool:
  try:
    import cv2  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def telea_inpaint(images: np.ndarray, masks: np.ndarray, radius: int = 3) -> np.ndarray:
  """OpenCV's fast-marching inpainting (Telea 2004) on uint8 copies of the images.

  Needs `pip install 'inpaint-jax[baselines]'` (opencv-python-headless).
  """
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("Telea inpainting needs OpenCV: pip install 'inpaint-jax[baselines]'") from e
  images = np.asarray(images, np.float32)
  masks = np.asarray(masks)
  out = np.empty_like(images)
  for i, (image, mask) in enumerate(zip(images, masks)):
    hole = np.where(mask > 0, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(images_lib.to_uint8(image), hole, radius, cv2.INPAINT_TELEA)
    out[i] = np.where(mask[..., None] > 0, image, images_lib.to_float(filled))
  return out


def biharmonic_available() -> bool:
  return importlib.util.find_spec("skimage") is not None


def biharmonic_inpaint(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """scikit-image's biharmonic inpainting (Damelin & Hoang 2018): the smoothest fill of the
  hole, each channel solving the biharmonic equation with the known pixels as boundary.

  images: [B, S, S, 3] in [-1, 1]; masks [B, S, S], 1 = known. Needs scikit-image
  (`pip install 'inpaint-jax[baselines]'`).
  """
  try:
    from skimage import restoration  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("biharmonic inpainting needs scikit-image: "
                      "pip install 'inpaint-jax[baselines]'") from e
  images = np.asarray(images, np.float32)
  masks = np.asarray(masks)
  out = np.empty_like(images)
  for i, (image, mask) in enumerate(zip(images, masks)):
    hole = mask == 0
    if not hole.any():
      out[i] = image
      continue
    filled = restoration.inpaint_biharmonic(image.astype(np.float64), hole, channel_axis=-1)
    out[i] = np.where(hole[..., None], np.clip(filled, -1, 1), image)
  return out


def mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """The hole set to each image's mean known colour: the floor every method should beat."""
  images, masks = np.asarray(images, np.float32), np.asarray(masks)[..., None]
  mean = (images * masks).sum(axis=(1, 2), keepdims=True) / np.maximum(
      masks.sum(axis=(1, 2), keepdims=True), 1)
  return np.where(masks > 0, images, mean).astype(np.float32)
