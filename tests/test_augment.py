"""DiffAugment (train/augment.py) against NumPy loops with the same drawn parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax.configs import tiny
from inpaint_jax.data import sources as ip
from inpaint_jax.train import augment
from inpaint_jax.train import dcgan as train
from inpaint_jax.train import loop


def _image(size=16, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (size, size, 3)).astype(np.float32)


def _params(**kw):
  p = {"brightness": 0.0, "saturation": 1.0, "contrast": 1.0, "shift": np.array([0, 0]),
       "corner": np.array([0, 0])}
  p.update(kw)
  return {k: jnp.asarray(v) for k, v in p.items()}


@pytest.mark.parametrize("dy,dx", [(0, 0), (2, -1), (-2, 2), (1, 0)])
def test_translation_is_a_zero_padded_shift(dy, dx):
  x = _image()
  want = np.zeros_like(x)
  for i in range(16):
    for j in range(16):
      if 0 <= i - dy < 16 and 0 <= j - dx < 16:
        want[i, j] = x[i - dy, j - dx]
  got = augment.translate(jnp.asarray(x), _params(shift=np.array([dy, dx])))
  np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("r,c", [(0, 0), (5, 9), (-4, 12), (12, -3)])
def test_cutout_zeroes_a_half_side_square_cut_to_the_image(r, c):
  x = _image()
  want = x.copy()
  for i in range(16):
    for j in range(16):
      if r <= i < r + 8 and c <= j < c + 8:
        want[i, j] = 0.0
  got = augment.cutout(jnp.asarray(x), _params(corner=np.array([r, c])))
  np.testing.assert_array_equal(np.asarray(got), want)


def test_color_by_hand():
  x = _image(8)
  b, s, c = 0.3, 1.7, 0.6
  y = x + b
  y = (y - y.mean(-1, keepdims=True)) * s + y.mean(-1, keepdims=True)
  y = (y - y.mean()) * c + y.mean()
  got = augment.color(jnp.asarray(x), _params(brightness=b, saturation=s, contrast=c))
  np.testing.assert_allclose(np.asarray(got), y, atol=1e-5)


def test_drawn_parameters_cover_their_ranges():
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  p = jax.device_get(jax.vmap(lambda k: augment.draw_params(k, 32))(keys))
  assert set(np.unique(p["shift"])) == set(range(-4, 5))  # 1/8 of 32, both ends included
  # DiffAugment's cutout centre runs over 0..32 (16 is even: one past the last row), so
  # the corner runs from -8 to 24.
  assert p["corner"].min() == -8 and p["corner"].max() == 24
  assert -0.5 <= p["brightness"].min() < -0.45 and 0.45 < p["brightness"].max() < 0.5
  assert 0 <= p["saturation"].min() < 0.05 and 1.95 < p["saturation"].max() < 2
  assert 0.5 <= p["contrast"].min() < 0.55 and 1.45 < p["contrast"].max() < 1.5


def test_every_image_gets_its_own_draw_and_gradients_reach_the_kept_pixels():
  x = np.stack([_image(16, s) for s in range(3)])
  rng = jax.random.PRNGKey(7)
  policy = ("translation", "cutout")
  got = np.asarray(augment.augment(jnp.asarray(x), rng, policy))
  for i in range(3):
    p = augment.draw_params(jax.random.fold_in(rng, i), 16)
    want = augment.cutout(augment.translate(jnp.asarray(x[i]), p), p)
    np.testing.assert_array_equal(got[i], np.asarray(want))
  # A pixel of the output is a pixel of the input or 0, so d(sum)/dx is 1 exactly for the
  # input pixels that reach the output.
  grad = np.asarray(jax.grad(lambda v: augment.augment(v, rng, policy).sum())(jnp.asarray(x)))
  for i in range(3):
    p = jax.device_get(augment.draw_params(jax.random.fold_in(rng, i), 16))
    want = np.zeros((16, 16))
    for a in range(16):
      for b in range(16):
        src_a, src_b = a - p["shift"][0], b - p["shift"][1]
        cut = p["corner"][0] <= a < p["corner"][0] + 8 and p["corner"][1] <= b < p["corner"][1] + 8
        if 0 <= src_a < 16 and 0 <= src_b < 16 and not cut:
          want[src_a, src_b] = 1.0
    np.testing.assert_array_equal(grad[i], np.repeat(want[:, :, None], 3, axis=2))
  np.testing.assert_array_equal(np.asarray(augment.augment(jnp.asarray(x), rng, ())), x)


def test_unknown_policy_is_named():
  assert augment.parse_policy(" color, cutout ") == ("color", "cutout")
  assert augment.parse_policy("") == ()
  with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
    augment.parse_policy("color,flip")


def test_training_with_diff_augment_shows_d_augmented_images(image_folder):
  """With the policy on, D's inputs differ from the raw batch (so its update differs), and
  training stays finite; off, the step is the plain DCGAN step."""
  config = tiny.get_config()
  config.dataset.folder = image_folder
  src = ip.make_source(config.dataset, "all", config.model.image_size)
  batch = {"image": ip.training_batch(src, 8, 0, 0)}
  results = {}
  for policy in ("", "color,translation,cutout"):
    config.diff_augment = policy
    state = train.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(train.make_train_step(config))
    for s in range(3):
      state, metrics = step(state, batch, loop.step_rng(0, s))
      assert all(np.isfinite(float(v)) for v in metrics.values())
    results[policy] = jax.device_get(state.d.params)
  diffs = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(a - b).max(), *results.values()))
  assert max(diffs) > 1e-4
