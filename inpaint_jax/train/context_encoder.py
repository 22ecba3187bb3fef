"""Context Encoder training (Pathak et al. 2016): its losses, state, step and `Task`.

Step `s` sees a batch that depends only on `(config.seed, s)` and masks drawn inside the
step from `(config.mask_seed, s)`, so a run killed and resumed ends where an uninterrupted
one would.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.models import context_encoder as ce
from inpaint_jax.train import gan
from inpaint_jax.train import loop


class CETrainState(flax.struct.PyTreeNode):
  step: jax.Array
  fill_colour: jax.Array  # [3] in [-1, 1]: the training set's mean colour
  e: gan.Net
  d: gan.Net


def reconstruction_loss(predicted: jax.Array, images: jax.Array, masks: jax.Array) -> jax.Array:
  """Masked l2: mean squared error over the missing pixels (Pathak et al. Eq. 1)."""
  hole = (1.0 - masks)[..., None]
  return jnp.sum(hole * (predicted - images) ** 2) / jnp.maximum(3.0 * jnp.sum(hole), 1.0)


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array,
                       fill_colour: np.ndarray) -> CETrainState:
  encoder, discriminator = ce.build_models(config.model)
  s = config.model.image_size
  x = jnp.zeros((1, s, s, 3), jnp.float32)
  e_rng, d_rng = jax.random.split(rng)
  tx = gan.optimizer(config)
  return CETrainState(
      step=jnp.zeros((), jnp.int32), fill_colour=jnp.asarray(fill_colour, jnp.float32),
      e=gan.Net.create(encoder.init(e_rng, x, train=False), tx),
      d=gan.Net.create(discriminator.init(d_rng, x, train=False), tx))


def train_step(state: CETrainState, batch: dict, rng: jax.Array, *,
               config: ml_collections.ConfigDict):
  """One D update, then one encoder update on (1 - w) l2 + w adversarial (w = 0.001).

  batch: {'image': [B, S, S, 3] in [-1, 1]}; the masks are the step's `training_masks`.
  The step is deterministic; `rng` is there for the loop's common signature.
  """
  del rng
  encoder, discriminator = ce.build_models(config.model)
  images, masks = batch["image"], training_masks(config, state.step)
  w = config.adversarial_weight

  def e_loss(predicted, d_logits):
    rec = reconstruction_loss(predicted, images, masks)
    adv = gan.non_saturating_loss(d_logits(ce.composite(images, predicted, masks)))
    loss = (1.0 - w) * rec + w * adv
    return loss, {"loss": loss, "l2_hole": rec, "adv": adv}

  e, d, metrics = gan.adversarial_step(
      state.e, state.d, ce.prefill(images, masks, state.fill_colour), images, network=encoder,
      discriminator=discriminator, tx=gan.optimizer(config),
      to_fake=lambda predicted: ce.composite(images, predicted, masks), f_loss=e_loss)
  del metrics["d_real"], metrics["d_fake"]
  return state.replace(step=state.step + 1, e=e, d=d), metrics


def make_train_step(config: ml_collections.ConfigDict):
  """`train_step` for `config` (not jitted; the loop jits it)."""
  return functools.partial(train_step, config=ml_collections.FrozenConfigDict(config))


def training_masks(config: ml_collections.ConfigDict, step: int | jax.Array) -> jax.Array:
  """The masks of step `step` (traceable), [B, S, S], 1 = known: drawn on the device from
  (config.mask_seed, step), apart from evaluation's."""
  return masks_lib.draw_batch(masks_lib.training_kinds(config.mask_type, config.batch_size),
                              config.model.image_size,
                              masks_lib.training_key(config.mask_seed, step))


def mean_colour(source, num_images: int) -> np.ndarray:
  """Mean colour [3] in [-1, 1] of the first `num_images` images of `source`."""
  n = min(num_images, len(source))
  total = np.zeros(3, np.float64)
  for _, images in sources.eval_batches(source, 256, stop=n):
    total += images.sum(axis=(0, 1, 2))
  return (total / (n * source[0].shape[0] * source[0].shape[1])).astype(np.float32)


def sample_picture(config: ml_collections.ConfigDict, state: CETrainState, source) -> np.ndarray:
  """uint8 picture: 8 training images, their masked inputs and the CE's fills, one row each."""
  images = images_lib.to_float(sources.take(source, np.arange(min(8, len(source)))))
  m = np.stack([masks_lib.make_mask(kind, config.model.image_size,
                                    masks_lib.mask_seed(config.mask_seed, j))
                for j, kind in enumerate(masks_lib.training_kinds(config.mask_type, len(images)))])
  filled = ce.fill(state.e.variables(), images, m, state.fill_colour, config.model)
  shown = np.concatenate([images, np.asarray(ce.prefill(images, m, state.fill_colour)),
                          np.asarray(filled)])
  return images_lib.grid(images_lib.to_uint8(shown), columns=len(images))


def task(config: ml_collections.ConfigDict) -> loop.Task:
  """The CE's state, step, batches (images and masks) and sample picture for the loop."""
  masks_lib.check_training_type(config.mask_type)
  return loop.Task(
      name=f"CE {config.mask_type}",
      init_state=lambda source: create_train_state(
          config, jax.random.PRNGKey(config.seed), mean_colour(source, config.fill_colour_images)),
      train_step=make_train_step(config),
      picture=lambda state, source: sample_picture(config, state, source),
      shown="l2_hole")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, source=None) -> CETrainState:
  """Trains a CE for `config.num_steps` on `config.mask_type` masks in `workdir` (resuming)."""
  return loop.train(task(config), config, workdir, source)
