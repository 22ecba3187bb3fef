"""Classic baselines: TV inpainting (adjointness, beats a mean fill on a smooth image),
nearest-neighbour retrieval against a loop, Telea."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax.evaluation import baselines
from inpaint_jax.evaluation import metrics


def _smooth_images(n=3, size=16):
  yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
  out = []
  for k in range(n):
    chans = [np.sin(2 * xx + k) * 0.5, 0.8 * yy - 0.4 + 0.1 * k, 0.6 * xx * yy - 0.3]
    out.append(np.stack(chans, -1))
  return np.asarray(out, np.float32)


def _center_masks(n=3, size=16):
  m = np.ones((n, size, size), np.float32)
  m[:, size // 4:-size // 4, size // 4:-size // 4] = 0
  return m


def test_divergence_is_minus_the_adjoint_of_the_gradient():
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(k1, (2, 7, 9))
  px, py = jax.random.normal(k2, (2, 7, 9)), jax.random.normal(k3, (2, 7, 9))
  gx, gy = baselines._gradient(x)  # pylint: disable=protected-access
  lhs = float(jnp.sum(gx * px + gy * py))
  rhs = -float(jnp.sum(x * baselines._divergence(px, py)))  # pylint: disable=protected-access
  assert lhs == pytest.approx(rhs, rel=1e-5)


def test_total_variation_by_hand():
  x = jnp.array([[0.0, 1.0], [0.0, 0.0]])
  # Pixel (0,0): gx = 1, gy = 0 -> 1; pixel (0,1): gy = -1 -> 1; others 0.
  assert float(baselines.total_variation(x)) == pytest.approx(2.0)


def test_tv_inpainting_beats_mean_fill_on_a_smooth_image_and_keeps_known_pixels():
  x, m = _smooth_images(), _center_masks()
  tv = np.asarray(baselines.tv_inpaint(x, m, iterations=400))
  mean = baselines.mean_fill(x, m)
  hole = 1 - m
  psnr_tv = np.asarray(metrics.psnr(tv, x, hole))
  psnr_mean = np.asarray(metrics.psnr(mean, x, hole))
  assert (psnr_tv > psnr_mean + 3).all(), (psnr_tv, psnr_mean)
  np.testing.assert_array_equal(tv[m > 0], x[m > 0])
  # The solution lowers the total variation from the mean-filled start.
  tv_of = lambda a: np.asarray(baselines.total_variation(jnp.moveaxis(jnp.asarray(a), -1, 1)))
  assert (tv_of(tv).sum(-1) < tv_of(mean).sum(-1)).all()


def test_masked_distances_match_a_loop():
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
  cands = rng.uniform(-1, 1, (5, 8, 8, 3)).astype(np.float32)
  masks = (rng.random((3, 8, 8)) > 0.5).astype(np.float32)
  got = np.asarray(baselines._masked_distances(images, masks, cands))  # pylint: disable=protected-access
  for i in range(3):
    for j in range(5):
      want = np.sum(masks[i][..., None] * (images[i] - cands[j]) ** 2)
      assert got[i, j] == pytest.approx(want, rel=1e-4)


class _Library:
  def __init__(self, images):
    self.images = images

  def __len__(self):
    return len(self.images)

  def __getitem__(self, i):
    return self.images[i]


def test_nearest_neighbour_finds_the_source_across_chunks():
  rng = np.random.default_rng(1)
  library = _Library(rng.integers(0, 256, (11, 8, 8, 3), dtype=np.uint8))
  picks = np.array([9, 2, 10])
  query = library.images[picks].astype(np.float32) / 127.5 - 1
  masks = np.ones((3, 8, 8), np.float32)
  masks[:, 2:6, 2:6] = 0
  query_in = np.where(masks[..., None] > 0, query, 0.0)  # the hole tells nothing
  np.testing.assert_array_equal(baselines.nearest_neighbours(query_in, masks, library, chunk=4),
                                picks)
  filled = baselines.nearest_neighbour_fill(query_in, masks, library)
  np.testing.assert_allclose(filled, query, atol=1e-6)


def test_mean_fill_by_hand():
  x = np.zeros((1, 2, 2, 3), np.float32)
  x[0, 0, 0] = 0.6
  x[0, 0, 1] = 0.0
  m = np.array([[[1, 1], [0, 0]]], np.float32)
  out = baselines.mean_fill(x, m)
  np.testing.assert_allclose(out[0, 1, 0], [0.3, 0.3, 0.3])


def test_telea_fills_smoothly_and_keeps_known_pixels():
  if not baselines.telea_available():
    pytest.skip("opencv-python-headless not installed (extra 'baselines')")
  x, m = _smooth_images(), _center_masks()
  out = baselines.telea_inpaint(x, m)
  np.testing.assert_array_equal(out[m > 0], x[m > 0])
  hole = 1 - m
  assert (np.asarray(metrics.psnr(out, x, hole))
          > np.asarray(metrics.psnr(baselines.mean_fill(x, m), x, hole)) + 3).all()
