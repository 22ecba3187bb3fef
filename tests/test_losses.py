import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax.core import losses


def test_context_loss_hand_case():
  g = jnp.zeros((2, 2, 3))
  y = jnp.ones((2, 2, 3)) * jnp.array([1.0, -2.0, 0.5])
  w = jnp.array([[0.0, 1.0], [0.5, 0.25]])
  # Sum over pixels of w * (1 + 2 + 0.5) = 1.75 * 3.5; l2: 1.75 * ... squared weights.
  assert float(losses.context_loss(g, y, w)) == pytest.approx(1.75 * 3.5)
  assert float(losses.context_loss(g, y, w, "l2")) == pytest.approx(
      (1 + 0.25 + 0.0625) * (1 + 4 + 0.25))


def test_prior_loss_is_stable_and_matches_the_formula():
  logits = jnp.array([-30.0, -2.0, 0.0, 3.0, 80.0])
  d = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
  expected = 0.003 * np.log1p(-d[:4])
  got = np.asarray(losses.prior_loss(logits))
  np.testing.assert_allclose(got[:4], expected, rtol=1e-5)
  assert np.isfinite(got[4]) and got[4] == pytest.approx(-0.003 * 80, rel=1e-5)  # log(1-D) ~ -l
  grad = jax.grad(lambda l: losses.prior_loss(l).sum())(logits)
  assert np.isfinite(np.asarray(grad)).all()
  np.testing.assert_allclose(np.asarray(losses.prior_loss(logits, kind="neglogd"))[:4],
                             -0.003 * np.log(d[:4]), rtol=1e-5)


def test_weighting_options():
  m = jnp.ones((9, 9)).at[4, 4].set(0.0)
  np.testing.assert_array_equal(losses.context_weights(m, "uniform"), m)
  assert float(losses.context_weights(m, "eq3")[4, 5]) == pytest.approx(1 / 49)
  with pytest.raises(ValueError, match="unknown weighting"):
    losses.context_weights(m, "gaussian")
