import jax.numpy as jnp
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
