"""The convolution forms and the compute precision: every form gives the float32 default's
numbers, bfloat16 stays within the stated tolerance of them, and a model runs in either
precision whatever it was trained in."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.configs import tiny
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.core import search as search_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.models import context_encoder as ce
from inpaint_jax.models import dcgan
from inpaint_jax.models import latent_encoder
from inpaint_jax.models import layers
from inpaint_jax.train import dcgan as dcgan_train

# Stated tolerances against the float32 default, on the shipped face model (outputs in
# [-1, 1], logits of a few units): float32 forms differ by summation order only; bfloat16
# keeps 8 bits of mantissa in the products (measured: G max 0.011-0.015, mean 0.001; D
# logit max 0.10-0.18 of |logit| ~3).
F32_ATOL = 2e-5
BF16_G_MAX, BF16_G_MEAN, BF16_LOGIT = 0.04, 0.004, 0.4
FORMS = [(impl, dtype) for impl in layers.CONV_IMPLS for dtype in layers.COMPUTE_DTYPES]
_DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("k", [3, 4, 5])
def test_the_matrix_product_forms_match_lax_and_their_gradients(k):
  rng = np.random.default_rng(k)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(k, k, 5, 7)), jnp.float32)
  pairs = ((layers.conv_2x_matmul,
            lambda x, w: jax.lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=_DN)),
           (layers.conv_transpose_2x_matmul,
            lambda x, w: jax.lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=_DN)))
  for ours, reference in pairs:
    want = reference(x, w)
    np.testing.assert_allclose(ours(x, w), want, atol=1e-4, rtol=1e-5)
    cotangent = jnp.asarray(rng.normal(size=want.shape), jnp.float32)
    grads = [jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) * cotangent), (0, 1))(x, w)
             for f in (ours, reference)]
    for a, b in zip(*grads):
      np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)


@pytest.fixture(scope="module")
def face_model():
  config, g_vars, d_vars = model_files.load_model(presets.bundled_model_path("celeba"))
  return config, g_vars, d_vars


def _with(model_config, impl, dtype):
  c = model_config.copy_and_resolve_references()
  c.conv_impl, c.compute_dtype = impl, dtype
  return c


def _check_close(got, want, dtype, g_like: bool):
  diff = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
  if dtype == "float32":
    assert diff.max() <= F32_ATOL * (1 if g_like else 10), diff.max()
  elif g_like:
    assert diff.max() <= BF16_G_MAX and diff.mean() <= BF16_G_MEAN, (diff.max(), diff.mean())
  else:
    assert diff.max() <= BF16_LOGIT, diff.max()


@pytest.mark.parametrize("impl,dtype", FORMS)
def test_g_and_d_forward_within_tolerance_of_the_float32_default(face_model, impl, dtype):
  config, g_vars, d_vars = face_model
  z = jax.random.uniform(jax.random.PRNGKey(1), (8, 100), minval=-1, maxval=1)
  g0, d0 = dcgan.build_models(_with(config.model, "subpixel", "float32"))
  g1, d1 = dcgan.build_models(_with(config.model, impl, dtype))
  x0, x1 = g0.apply(g_vars, z), g1.apply(g_vars, z)
  assert x1.dtype == jnp.float32 and x1.shape == x0.shape
  _check_close(x1, x0, dtype, g_like=True)
  logits = d1.apply(d_vars, x0)
  assert logits.dtype == jnp.float32
  _check_close(logits, d0.apply(d_vars, x0), dtype, g_like=False)


@pytest.mark.parametrize("impl,dtype", FORMS)
def test_one_search_iteration_within_tolerance(face_model, impl, dtype):
  """One Adam step of the search moves z by ~lr per coordinate: the two precisions' steps
  must agree on nearly every coordinate's direction and the losses closely."""
  config, g_vars, d_vars = face_model
  images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 64, 64, 3)), jnp.float32)
  masks = jnp.asarray(masks_lib.make_masks("center", 64, 0, range(4)))
  z0 = search_lib.initial_z(jax.random.split(jax.random.PRNGKey(0), 4), 1, 100)
  cfg = search_config.settings("paper", {"iterations": 1})
  out = [search_lib.search(g_vars, d_vars, images, masks, z0, _with(config.model, i, d), cfg)
         for i, d in (("subpixel", "float32"), (impl, dtype))]
  z_ref, z = np.asarray(out[0].z), np.asarray(out[1].z)
  if dtype == "float32":
    np.testing.assert_allclose(z, z_ref, atol=1e-5)
  else:  # Adam's first step is lr * sign(gradient): the same step on nearly every coordinate
    diff = np.abs(z - z_ref)
    assert np.mean(diff < 1e-4) > 0.95 and diff.max() <= 2 * cfg.learning_rate + 1e-5


@pytest.mark.parametrize("dtype", layers.COMPUTE_DTYPES)
def test_one_training_step_within_tolerance(dtype):
  """One jitted DCGAN step of the tiny model: losses and updated parameters in bfloat16 close
  to float32's; parameters and Adam's state stay float32."""
  results = []
  for d in ("float32", dtype):
    config = tiny.get_config()
    config.model.compute_dtype = d
    state = dcgan_train.create_train_state(config, jax.random.PRNGKey(0))
    images = {"image": jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)),
                                   jnp.float32)}
    state, metrics = jax.jit(dcgan_train.make_train_step(config))(state, images,
                                                                  jax.random.PRNGKey(1))
    results.append((state, metrics))
  (s0, m0), (s1, m1) = results
  assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(s1)
             if jnp.issubdtype(a.dtype, jnp.floating))
  for name in ("d_loss", "g_loss"):
    np.testing.assert_allclose(m1[name], m0[name], rtol=1e-2 if dtype != "float32" else 1e-6)
  # Adam moves each weight by at most ~lr: both steps within one step of each other.
  lr = tiny.get_config().learning_rate
  for net in ("g", "d"):
    for a, b in zip(jax.tree.leaves(getattr(s1, net).params), jax.tree.leaves(getattr(s0, net).params)):
      np.testing.assert_allclose(a, b, atol=2 * lr + 1e-6 if dtype != "float32" else 1e-6)


@pytest.mark.parametrize("dtype", layers.COMPUTE_DTYPES)
def test_the_encoder_and_the_context_encoder_honour_the_precision(dtype):
  e_cfg, m_cfg = tiny.get_config().encoder, tiny.get_config().model
  e_vars = latent_encoder.init_variables(e_cfg, m_cfg, jax.random.PRNGKey(0))
  images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
  masks = jnp.ones((2, 32, 32))
  ref = latent_encoder.build(e_cfg, m_cfg).apply(e_vars, images, masks)
  m_cfg.compute_dtype = dtype
  encoder = latent_encoder.build(e_cfg, m_cfg)
  assert encoder.compute_dtype == dtype
  got = encoder.apply(e_vars, images, masks)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, ref, atol=1e-5 if dtype == "float32" else 2e-2)
  ce_cfg = {"nf": 8, "ndf": 8, "kernel_size": 4, "image_size": 32, "conv_impl": "auto"}
  nets = [ce.build_models(ml_collections.ConfigDict(dict(ce_cfg, compute_dtype=d)))[0]
          for d in ("float32", dtype)]
  variables = nets[0].init(jax.random.PRNGKey(0), images)
  outs = [n.apply(variables, images) for n in nets]
  assert nets[1].compute_dtype == dtype and outs[1].dtype == jnp.float32
  np.testing.assert_allclose(outs[1], outs[0], atol=1e-5 if dtype == "float32" else 3e-2)


def test_a_model_file_runs_in_either_precision_whatever_it_was_trained_in(tmp_path):
  """A file exported from a bfloat16 run loads as float32 with the machine's form; the
  search block's compute_dtype runs it in bfloat16; the blend keeps known pixels exact."""
  config = tiny.get_config()
  config.model.compute_dtype, config.model.conv_impl = "bfloat16", "xla"
  g_vars, d_vars = dcgan.init_variables(config.model, jax.random.PRNGKey(0))
  path = str(tmp_path / "bf16.msgpack")
  model_files.export_model(path, config, g_vars, d_vars)
  loaded, g2, _ = model_files.load_model(path)
  assert (loaded.model.compute_dtype, loaded.model.conv_impl) == ("float32", "auto")
  np.testing.assert_array_equal(jax.tree.leaves(g2)[0],
                                np.asarray(jax.tree.leaves(g_vars)[0], np.float16))
  images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
  masks = masks_lib.make_masks("center", 32, 0, range(3))
  fills = {}
  for dtype in layers.COMPUTE_DTYPES:
    search = search_config.settings("paper", {"iterations": 5, "compute_dtype": dtype})
    cfg, params = model_files.load_params(path, search)
    out = inpaint_lib.inpaint(images, masks, params, cfg)
    assert out.blended.dtype == np.float32
    known = masks[..., None].repeat(3, -1) > 0
    np.testing.assert_array_equal(out.blended[known], images[known])
    fills[dtype] = out.blended
    assert cfg.model.compute_dtype == "float32"  # the run's config is not changed
  np.testing.assert_allclose(fills["bfloat16"], fills["float32"], atol=0.05)


def test_an_unknown_precision_or_form_is_a_one_line_error_before_any_work(tmp_path):
  config = tiny.get_config()
  config.search.compute_dtype = "float16"
  with pytest.raises(ValueError, match=r"search.compute_dtype must be 'float32' or 'bfloat16', got 'float16'"):
    inpaint_lib.check_settings(None, config)
  config = tiny.get_config()
  config.model.compute_dtype = "fp16"
  with pytest.raises(ValueError, match=r"model.compute_dtype must be one of float32, bfloat16, got 'fp16'"):
    dcgan.build_models(config.model)
  config.model.compute_dtype, config.model.conv_impl = "float32", "winograd"
  with pytest.raises(ValueError, match=r"model.conv_impl must be 'auto' or one of subpixel, xla, matmul"):
    dcgan.build_models(config.model)
  workdir = tmp_path / "run"
  with pytest.raises(ValueError, match="model.conv_impl"):
    dcgan_train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists() or not os.listdir(workdir)


def test_auto_is_the_process_choice(monkeypatch):
  config = tiny.get_config()
  assert config.model.conv_impl == "auto"
  monkeypatch.delenv(layers.CONV_IMPL_ENV, raising=False)
  assert layers.compute_policy(config.model) == ("subpixel", "float32")
  monkeypatch.setenv(layers.CONV_IMPL_ENV, "matmul")
  g, _ = dcgan.build_models(config.model)
  assert g.conv_impl == "matmul"
  monkeypatch.setenv(layers.CONV_IMPL_ENV, "bogus")
  with pytest.raises(ValueError, match="bogus"):
    dcgan.build_models(config.model)
