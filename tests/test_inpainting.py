import copy

import jax
import numpy as np
import pytest

from inpaint_jax.configs import tiny
from inpaint_jax.core import blend
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import masks
from inpaint_jax.models import dcgan as models


@pytest.fixture(scope="module")
def setup():
  config = tiny.get_config()
  config.search.iterations = 10
  config.search.restarts = 2
  config.search.batch_size = 2
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  return config, {"generator": g_vars, "discriminator": d_vars}


def _batch(n=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (n, 32, 32, 3)).astype(np.float32), masks.make_masks("center", 32, 0, range(n))


def test_inpaint_shapes_exact_known_pixels_and_seed(setup):
  config, params = setup
  images, m = _batch()
  out = inpaint_lib.inpaint(images, m, params, config, seed=3)
  assert out.blended.shape == images.shape and out.generated.shape == images.shape
  assert out.z.shape == (3, config.model.z_dim) and out.losses["restarts"].shape == (3, 2)
  known = np.broadcast_to(m[..., None] > 0, images.shape)
  assert np.array_equal(out.blended[known], images[known])
  again = inpaint_lib.inpaint(images, m, params, config, seed=3)
  np.testing.assert_array_equal(out.blended, again.blended)
  other = inpaint_lib.inpaint(images, m, params, config, seed=4)
  assert not np.array_equal(out.z, other.z)


def test_the_mixed_blend_is_the_blend_of_the_searched_fill(setup):
  # search.blend_mix_window: inpaint's `blended` is core.blend.mixed_blend of its own G(ẑ),
  # clipped; known pixels stay exact and the random mask's fill differs from Eq. 4's.
  config, params = setup
  images, _ = _batch()
  m = masks.make_masks("random", 32, 0, range(3))
  mixed = copy.deepcopy(config)
  mixed.search.blend_mix_window = 5
  out = inpaint_lib.inpaint(images, m, params, mixed, seed=3)
  ref = np.clip(np.asarray(blend.mixed_blend(images, out.generated, m, 5, 0.6, 1.0, 7)), -1, 1)
  np.testing.assert_allclose(out.blended, ref, atol=1e-5)
  known = np.broadcast_to(m[..., None] > 0, images.shape)
  assert np.array_equal(out.blended[known], images[known])
  plain = inpaint_lib.inpaint(images, m, params, config, seed=3)
  np.testing.assert_array_equal(plain.generated, out.generated)
  assert np.abs(plain.blended - out.blended).max() > 1e-2


def test_a_mask_without_hole_returns_the_input(setup):
  config, params = setup
  images, _ = _batch(2)
  out = inpaint_lib.inpaint(images, np.ones((2, 32, 32), np.float32), params, config)
  assert np.array_equal(out.blended, images)


@pytest.mark.parametrize("change,message", [
    (lambda x, m: (x, m[:, :16]), "masks must be"),
    (lambda x, m: (x[..., :2], m), r"images must be \[B, H, W, 3\]"),
    (lambda x, m: (x, m * 0.5), "masks must be binary"),
    (lambda x, m: (x * 3.0, m), r"must lie in \[-1, 1\]"),
    (lambda x, m: (np.where(np.arange(32)[None, :, None, None] == 3, np.nan, x), m), "NaN"),
    (lambda x, m: (np.zeros((3, 64, 64, 3), np.float32), np.ones((3, 64, 64), np.float32)),
     "model makes 32x32"),
    (lambda x, m: (x[:0], m[:0]), "empty batch"),
])
def test_bad_input_raises_a_value_error_naming_the_problem(setup, change, message):
  config, params = setup
  images, m = change(*_batch())
  with pytest.raises(ValueError, match=message):
    inpaint_lib.inpaint(images, m, params, config)
