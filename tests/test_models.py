import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from inpaint_jax.models import dcgan as models
from inpaint_jax.models import layers


def _config(k, ngf=64, ndf=64, image_size=64, z_dim=100):
  return ml_collections.ConfigDict(dict(z_dim=z_dim, ngf=ngf, ndf=ndf, kernel_size=k,
                                        image_size=image_size))


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _expected_g(z, ngf, k, steps=4):
  top = ngf * 2 ** (steps - 1)
  n = z * 16 * top + 2 * top  # projection (no bias: BN follows) + BN scale/bias
  ch = top
  for _ in range(steps - 1):
    n += k * k * ch * (ch // 2) + 2 * (ch // 2)
    ch //= 2
  return n + k * k * ch * 3 + 3  # last deconv has a bias, no BN


def _expected_d(ndf, k, steps=4):
  n = k * k * 3 * ndf + ndf
  ch = ndf
  for _ in range(steps - 1):
    n += k * k * ch * 2 * ch + 2 * 2 * ch
    ch *= 2
  return n + 4 * 4 * ch + 1


@pytest.mark.parametrize("k", [4, 5])
def test_paper_size_shapes_and_parameter_counts(k):
  # Shapes only (jax.eval_shape): the paper-size model is never run, which keeps this quick.
  g_vars, d_vars = jax.eval_shape(lambda: models.init_variables(_config(k), jax.random.PRNGKey(0)))
  # Hand counts for the DCGAN of Radford et al. at 64x64 (k=4: 3,576,707 and 2,765,633).
  assert _count(g_vars["params"]) == _expected_g(100, 64, k)
  assert _count(d_vars["params"]) == _expected_d(64, k)
  if k == 4:
    assert _count(g_vars["params"]) == 3_576_707
    assert _count(d_vars["params"]) == 2_765_633
  g, d = models.build_models(_config(k))
  z = jax.random.uniform(jax.random.PRNGKey(1), (3, 100), minval=-1, maxval=1)
  x = jax.eval_shape(g.apply, g_vars, z)
  assert x.shape == (3, 64, 64, 3)
  assert jax.eval_shape(d.apply, d_vars, x).shape == (3,)
  assert g_vars["params"]["deconv0"]["kernel"].shape == (k, k, 512, 256)


def test_generator_range_and_32px():
  cfg = _config(4, ngf=8, ndf=8, image_size=32, z_dim=16)
  g_vars, d_vars = models.init_variables(cfg, jax.random.PRNGKey(0))
  g, d = models.build_models(cfg)
  z = 50.0 * jax.random.normal(jax.random.PRNGKey(2), (4, 16))  # drive tanh into saturation
  x, _ = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
  assert x.shape == (4, 32, 32, 3)
  assert float(jnp.abs(x).max()) <= 1.0
  assert _count(g_vars["params"]) == _expected_g(16, 8, 4, steps=3)
  assert _count(d_vars["params"]) == _expected_d(8, 4, steps=3)


def test_eval_mode_is_independent_of_the_batch():
  cfg = _config(4, ngf=8, ndf=8, image_size=32, z_dim=16)
  g_vars, d_vars = models.init_variables(cfg, jax.random.PRNGKey(0))
  g, _ = models.build_models(cfg)
  z = jax.random.uniform(jax.random.PRNGKey(3), (5, 16), minval=-1, maxval=1)
  batch = g.apply(g_vars, z, train=False)
  single = g.apply(g_vars, z[2:3], train=False)
  np.testing.assert_allclose(batch[2:3], single, atol=1e-6)
  train_batch, _ = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
  train_single, _ = g.apply(g_vars, z[2:3], train=True, mutable=["batch_stats"])
  assert not np.allclose(train_batch[2:3], train_single, atol=1e-3)


def test_bad_image_size():
  with pytest.raises(ValueError, match="image_size must be 32 or 64"):
    models.init_variables(_config(4, image_size=48), jax.random.PRNGKey(0))


@pytest.mark.parametrize("k", [3, 4, 5])
def test_subpixel_convs_equal_the_dilated_reference(k):
  rng = np.random.default_rng(k)
  x = jnp.asarray(rng.normal(size=(2, 8, 6, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(k, k, 5, 7)), jnp.float32)
  ref_t = jax.lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(layers.conv_transpose_2x(x, w), ref_t, atol=1e-4, rtol=1e-5)
  ref_c = jax.lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(layers.conv_2x(x, w), ref_c, atol=1e-4, rtol=1e-5)
  # Gradients (the latent search differentiates through both) agree as well.
  for fast, ref in ((layers.conv_transpose_2x,
                     lambda a, b: jax.lax.conv_transpose(a, b, (2, 2), "SAME",
                                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))),
                    (layers.conv_2x,
                     lambda a, b: jax.lax.conv_general_dilated(a, b, (2, 2), "SAME",
                                                               dimension_numbers=("NHWC", "HWIO", "NHWC")))):
    g_fast = jax.grad(lambda a, b: jnp.sum(jnp.sin(fast(a, b))), argnums=(0, 1))(x, w)
    g_ref = jax.grad(lambda a, b: jnp.sum(jnp.sin(ref(a, b))), argnums=(0, 1))(x, w)
    for a, b in zip(g_fast, g_ref):
      np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("k", [4, 5])
def test_fast_and_flax_implementations_share_parameters_and_outputs(k):
  fast_cfg = _config(k, ngf=16, ndf=16)
  flax_cfg = _config(k, ngf=16, ndf=16)
  flax_cfg.conv_impl = "xla"
  g_vars, d_vars = models.init_variables(fast_cfg, jax.random.PRNGKey(0))
  flax_g, flax_d = models.init_variables(flax_cfg, jax.random.PRNGKey(0))
  assert jax.tree.structure(g_vars) == jax.tree.structure(flax_g)
  assert jax.tree.structure(d_vars) == jax.tree.structure(flax_d)
  gf, df = models.build_models(fast_cfg)
  gx, dx = models.build_models(flax_cfg)
  z = jax.random.uniform(jax.random.PRNGKey(1), (3, 100), minval=-1, maxval=1)
  xf, xx = gf.apply(g_vars, z), gx.apply(g_vars, z)
  np.testing.assert_allclose(xf, xx, atol=1e-5)
  np.testing.assert_allclose(df.apply(d_vars, xf), dx.apply(d_vars, xf), atol=1e-4, rtol=1e-4)
