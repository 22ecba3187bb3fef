"""Training the latent encoder E (Lahiri et al., CVPR 2020): its losses, state, step, `Task`.

E maps a masked image to a starting z for the search. With G frozen, each step
  * draws z ~ U[-1, 1], makes G(z), masks it and regresses E's answer onto z;
  * masks real training images and asks G(E(.)) to match their known pixels (the search's
    Eq. 3-weighted context loss, so E starts where the search would go).
Masks are of all four types, drawn inside the step (`training_masks`); step `s` sees a
batch and z that depend only on `(config.seed, s)` and masks from `(config.mask_seed, s)`,
so a killed run resumes bit-exactly.

    from inpaint_jax.train import latent_encoder
    state = latent_encoder.train_and_evaluate(config, workdir)
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.configs import latent_encoder as le_config
from inpaint_jax.core import losses
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.models import dcgan
from inpaint_jax.models import latent_encoder
from inpaint_jax.train import gan
from inpaint_jax.train import loop


class EncoderTrainState(flax.struct.PyTreeNode):
  """step; E being trained; g: the frozen G's `{'params', 'batch_stats'}` it maps into."""
  step: jax.Array
  e: gan.Net
  g: Any


def mean_context_loss(generated: jax.Array, images: jax.Array, masks: jax.Array) -> jax.Array:
  """Per image, the Eq. 3-weighted l1 over the known pixels divided by the weights' sum
  (a weighted mean absolute error, so every mask type counts alike). [B, S, S, 3], [B, S, S]
  -> [B]."""
  w = jax.vmap(losses.importance_weights)(masks)
  per_image = jax.vmap(losses.context_loss)(generated, images, w)
  return per_image / jnp.maximum(3.0 * w.sum(axis=(1, 2)), 1e-6)


def train_step(state: EncoderTrainState, batch: dict, rng: jax.Array, *,
               config: ml_collections.ConfigDict, model_config: ml_collections.ConfigDict):
  """One Adam step of E on latent_weight * |E(masked G(z)) - z|^2 + context loss (samples
  and real images).

  batch: {'image': [B, S, S, 3] in [-1, 1]}; the masks are the step's `training_masks`.
  Returns the new state and metrics (loss, latent_mse, context_samples, context_real).
  """
  encoder = latent_encoder.build(config.model, model_config)
  generator, _ = dcgan.build_models(model_config)
  b = batch["image"].shape[0]
  z = jax.random.uniform(rng, (b, model_config.z_dim), jnp.float32, -1.0, 1.0)
  samples = jax.lax.stop_gradient(generator.apply(state.g, z, train=False))
  images = jnp.concatenate([samples, batch["image"]])
  real_masks, sample_masks = training_masks(config, state.step, model_config.image_size)
  masks = jnp.concatenate([sample_masks, real_masks])

  def loss_fn(params):
    z_hat, updates = encoder.apply({"params": params, "batch_stats": state.e.batch_stats},
                                   images, masks, train=True, mutable=["batch_stats"])
    context = mean_context_loss(generator.apply(state.g, z_hat, train=False), images, masks)
    latent = jnp.mean(jnp.square(z_hat[:b] - z))
    loss = config.latent_weight * latent + context.mean()
    return loss, (updates["batch_stats"], {"loss": loss, "latent_mse": latent,
                                           "context_samples": context[:b].mean(),
                                           "context_real": context[b:].mean()})

  (_, (stats, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.e.params)
  e = state.e.apply_gradients(grads, stats, gan.optimizer(config))
  return state.replace(step=state.step + 1, e=e), metrics


def training_masks(config: ml_collections.ConfigDict, step: int | jax.Array,
                   image_size: int) -> tuple[jax.Array, jax.Array]:
  """(masks of the real images, masks of G's samples) of step `step` (traceable), [B, S, S]
  each: mask j of the 2B has type mix[j % len(mix)] of `config.mask_type`'s mix, drawn on the
  device from (config.mask_seed, step)."""
  b = config.batch_size
  kinds = masks_lib.training_kinds(config.mask_type, 2 * b)
  both = masks_lib.draw_batch(kinds, image_size, masks_lib.training_key(config.mask_seed, step))
  return both[:b], both[b:]


def load_dcgan(config: ml_collections.ConfigDict):
  """(DCGAN config, g_vars, d_vars) of `config.dcgan`; ValueError if it is not set."""
  if not config.get("dcgan"):
    raise ValueError("config.dcgan is not set: give the DCGAN (model file or workdir) E is for")
  return model_files.load_model(config.dcgan)


def create_train_state(config, model_config, g_vars, rng: jax.Array) -> EncoderTrainState:
  """The step-0 state: random weights, or E of `config.init_from` (an encoder file or
  workdir for this G, or for any G of this architecture with
  `config.init_from_other_generator`) with a fresh optimiser state."""
  if config.get("init_from"):
    variables = initial_encoder(config, model_config, g_vars)
  else:
    variables = latent_encoder.init_variables(config.model, model_config, rng)
  return EncoderTrainState(step=jnp.zeros((), jnp.int32),
                           e=gan.Net.create(variables, gan.optimizer(config)),
                           g=jax.tree.map(jnp.asarray, g_vars))


def initial_encoder(config, model_config, g_vars) -> dict:
  """E's `{'params', 'batch_stats'}` from `config.init_from` (file or workdir), float32;
  ValueError if it was made for another G (unless `config.init_from_other_generator`) or has
  another architecture than `config.model`."""
  path, same_g = config.init_from, not config.get("init_from_other_generator", False)
  if os.path.isdir(path):
    e_config, tree = load_config(path).model, model_files.restore_tree(path)
    e_vars = model_files.variables(tree, "e")
    if same_g and (model_files.generator_fingerprint(model_files.variables(tree, "g"))
                   != model_files.generator_fingerprint(g_vars)):
      raise ValueError(f"init_from {path} was trained for another generator than {config.dcgan}"
                       " (--config.init_from_other_generator to warm-start from it anyway)")
  else:
    e_config, e_vars = model_files.load_encoder(path, model_config, g_vars, same_g)
  if e_config.nf != config.model.nf:
    raise ValueError(f"init_from {path} has nf {e_config.nf}, the config asks for "
                     f"{config.model.nf}")
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), e_vars)


def start_points(e_vars: dict, images: jax.Array, masks: jax.Array, config, model_config
                 ) -> jax.Array:
  """E's z for each image, [B, z_dim] (running batch statistics)."""
  return latent_encoder.build(config.model, model_config).apply(e_vars, images, masks, train=False)


def sample_picture(config, model_config, state: EncoderTrainState, source) -> np.ndarray:
  """uint8 picture: 8 training images, masked (one of each type, twice), and G(E(.)) pasted
  into the known pixels: E's fill before any search."""
  images = images_lib.to_float(sources.take(source, np.arange(min(8, len(source)))))
  m = masks_lib.make_mixed_masks(model_config.image_size, config.mask_seed, np.arange(len(images)))
  z = start_points(state.e.variables(), images, m, config, model_config)
  generator, _ = dcgan.build_models(model_config)
  filled = np.where(m[..., None] > 0, images, np.asarray(generator.apply(state.g, z, train=False)))
  shown = np.concatenate([images, images_lib.masked_input(images, m), filled])
  return images_lib.grid(images_lib.to_uint8(shown), columns=len(images))


def task(config: ml_collections.ConfigDict) -> loop.Task:
  """E's state, step, batches (images and `config.mask_type` masks) and picture for the loop."""
  masks_lib.check_training_type(config.mask_type)
  dcgan_config, g_vars, _ = load_dcgan(config)
  # G and E run in this run's precision (config.model.compute_dtype), whatever G's was.
  dcgan_config.model.compute_dtype = config.model.get("compute_dtype", "float32")
  model_config = ml_collections.FrozenConfigDict(dcgan_config.model)
  size = model_config.image_size
  if config.model.image_size != size:
    raise ValueError(f"config.model.image_size is {config.model.image_size} but the DCGAN "
                     f"{config.dcgan} makes {size}x{size} images")
  return loop.Task(
      name="encoder",
      init_state=lambda source: create_train_state(config, model_config, g_vars,
                                                   jax.random.PRNGKey(config.seed)),
      train_step=functools.partial(train_step, config=ml_collections.FrozenConfigDict(config),
                                   model_config=model_config),
      picture=lambda state, source: sample_picture(config, model_config, state, source),
      shown="context_real")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       source=None) -> EncoderTrainState:
  """Trains E for `config.dcgan` for `config.num_steps` in `workdir` (resuming)."""
  return loop.train(task(config), config, workdir, source)


def is_workdir(workdir: str) -> bool:
  """Whether `workdir` holds a latent-encoder run (its config.json says so)."""
  path = os.path.join(workdir, model_files.CONFIG_FILE)
  if not os.path.isfile(path):
    return False
  with open(path) as f:
    saved = json.load(f)
  return "dcgan" in saved and "latent_weight" in saved


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """An encoder run's config.json over the encoder defaults."""
  path = os.path.join(workdir, model_files.CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {model_files.CONFIG_FILE} in {workdir}: not a training workdir")
  if not is_workdir(workdir):
    raise ValueError(f"{workdir} is not a latent-encoder workdir (no dcgan / latent_weight)")
  with open(path) as f:
    saved = json.load(f)
  return model_files.merge_with_defaults(saved, le_config.get_config())


def export(workdir: str, out: str, step: int | None = None, dtype=np.float16) -> None:
  """Writes E of an encoder workdir (latest or given step), with the fingerprint of the G
  it was trained for, into one model file (`model_files.export_encoder`)."""
  config = load_config(workdir)
  tree = model_files.restore_tree(workdir, step)
  model_files.export_encoder(out, config.model, model_files.variables(tree, "e"),
                             model_files.variables(tree, "g"), dtype)
