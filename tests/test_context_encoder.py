"""The Context Encoder baseline: its layers against loops, its losses by hand, and training
on TFDS mock data (a few steps, a checkpoint, resume, loading)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax import model_files
from inpaint_jax.configs import context_encoder as ce_config
from inpaint_jax.models import context_encoder as ce
from inpaint_jax.train import context_encoder as ce_train


def test_channelwise_dense_is_one_dense_layer_per_channel():
  layer = ce.ChannelwiseDense()
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 3, 4))
  variables = layer.init(jax.random.PRNGKey(1), x)
  kernel = np.asarray(variables["params"]["kernel"])  # [C, HW, HW]
  bias = np.asarray(variables["params"]["bias"])  # [C, HW]
  got = np.asarray(layer.apply(variables, x))
  xs = np.asarray(x)
  for b in range(2):
    for c in range(4):
      want = xs[b, :, :, c].reshape(-1) @ kernel[c] + bias[c]
      np.testing.assert_allclose(got[b, :, :, c].reshape(-1), want, rtol=1e-5, atol=1e-5)
  assert kernel.shape == (4, 9, 9)  # C (HW)^2 weights, not (C HW)^2


def test_prefill_composite_and_reconstruction_loss_by_hand():
  images = jnp.array(np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3) / 24.0)
  masks = jnp.array([[[1, 0], [1, 1]], [[0, 0], [1, 1]]], jnp.float32)
  colour = jnp.array([0.1, 0.2, 0.3])
  filled = np.asarray(ce.prefill(images, masks, colour))
  np.testing.assert_array_equal(filled[0, 0, 1], np.asarray(colour))
  np.testing.assert_array_equal(filled[0, 1, 1], np.asarray(images)[0, 1, 1])
  predicted = images + 0.5
  # 3 missing pixels x 3 channels, every squared error 0.25.
  assert float(ce_train.reconstruction_loss(predicted, images, masks)) == pytest.approx(0.25)
  both = np.asarray(ce.composite(images, predicted, masks))
  np.testing.assert_array_equal(both[1, 1], np.asarray(images)[1, 1])
  np.testing.assert_array_equal(both[1, 0], np.asarray(predicted)[1, 0])


def test_encoder_shape_and_range():
  config = _tiny_config()
  encoder, discriminator = ce.build_models(config.model)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3), minval=-1, maxval=1)
  variables = encoder.init(jax.random.PRNGKey(1), x)
  y = encoder.apply(variables, x)
  assert y.shape == (2, 32, 32, 3)
  assert float(jnp.abs(y).max()) <= 1.0
  d_vars = discriminator.init(jax.random.PRNGKey(2), x)
  assert discriminator.apply(d_vars, y).shape == (2,)


def _tiny_config():
  config = ce_config.get_config("celeb_a,center")
  config.model.nf = 8
  config.model.ndf = 8
  config.model.image_size = 32
  config.dataset.download = False
  config.batch_size = 4
  config.num_steps = 6
  config.fill_colour_images = 8
  config.log_every = 2
  config.sample_every = 3
  config.checkpoint_every = 3
  config.progress_bar = False
  config.learning_rate = 1e-3
  return config


def test_config_rejects_unknown_dataset():
  with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
    ce_config.get_config("mnist,center")


def test_training_on_mock_data_learns_resumes_and_loads(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("tensorflow")
  config = _tiny_config()
  with tfds.testing.mock_data(num_examples=8):
    from inpaint_jax.data import sources  # pylint: disable=g-import-not-at-top
    source = sources.make_source(config.dataset, "train", 32)
    images = np.stack([source[i] for i in range(len(source))])
  colour = ce_train.mean_colour(source, 8)
  np.testing.assert_allclose(colour, (images.astype(np.float64) / 127.5 - 1).mean(axis=(0, 1, 2)),
                             atol=1e-5)

  # A short run and the same run cut in two (a second call resumes from step 3).
  straight = ce_train.train_and_evaluate(config, str(tmp_path / "a"), source=source)
  half = config.copy_and_resolve_references()
  half.num_steps = 3
  ce_train.train_and_evaluate(half, str(tmp_path / "b"), source=source)
  resumed = ce_train.train_and_evaluate(config, str(tmp_path / "b"), source=source)
  for a, b in zip(jax.tree.leaves(straight.e), jax.tree.leaves(resumed.e)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert (tmp_path / "a" / "samples" / "step_0000006.png").exists()

  loaded_config, variables, fill_colour = model_files.load_context_encoder(str(tmp_path / "a"))
  assert loaded_config.mask_type == "center" and loaded_config.model.nf == 8
  np.testing.assert_allclose(fill_colour, colour, atol=1e-6)
  x = images[:4].astype(np.float32) / 127.5 - 1.0
  m = np.ones((4, 32, 32), np.float32)
  m[:, 8:24, 8:24] = 0
  out = np.asarray(ce.fill(variables, x, m, fill_colour, loaded_config.model))
  np.testing.assert_array_equal(out[:, :8], x[:, :8])  # known pixels untouched

  # The masked l2 goes down when the same batch is trained on repeatedly.
  state = ce_train.create_train_state(config, jax.random.PRNGKey(0), colour)
  step = jax.jit(ce_train.make_train_step(config))
  batch = {"image": jnp.asarray(x), "mask": jnp.asarray(m)}
  losses = []
  for _ in range(15):
    state, metrics = step(state, batch, jax.random.PRNGKey(0))
    losses.append(float(metrics["l2_hole"]))
  assert losses[-1] < 0.5 * losses[0], losses


def test_load_rejects_a_dcgan_workdir(tmp_path):
  from inpaint_jax.train import checkpoints  # pylint: disable=g-import-not-at-top
  from inpaint_jax.configs import tiny  # pylint: disable=g-import-not-at-top
  checkpoints.save_config(str(tmp_path), tiny.get_config())
  with pytest.raises(ValueError, match="not a Context Encoder workdir"):
    model_files.load_context_encoder(str(tmp_path))
