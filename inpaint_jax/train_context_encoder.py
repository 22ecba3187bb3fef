"""Context Encoder training: a jitted `train_step(state, batch) -> (state, metrics)` and its loop.

As for the DCGAN, step `s` sees a batch and masks that depend only on `(config.seed, s)`,
so a run killed and resumed from its latest checkpoint ends where an uninterrupted one would.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from absl import logging
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from inpaint_jax import checkpoints
from inpaint_jax import context_encoder as ce
from inpaint_jax import images as image_io
from inpaint_jax import input_pipeline
from inpaint_jax import masks as masks_lib
from inpaint_jax import train as dcgan_train
from inpaint_jax.configs import context_encoder as ce_config


class CETrainState(flax.struct.PyTreeNode):
  step: jax.Array
  fill_colour: jax.Array  # [3] in [-1, 1]: the training set's mean colour
  e_params: Any
  e_batch_stats: Any
  d_params: Any
  d_batch_stats: Any
  e_opt_state: Any
  d_opt_state: Any


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array,
                       fill_colour: np.ndarray) -> CETrainState:
  encoder, discriminator = ce.build_models(config.model)
  s = config.model.image_size
  x = jnp.zeros((1, s, s, 3), jnp.float32)
  e_rng, d_rng = jax.random.split(rng)
  e_vars = encoder.init(e_rng, x, train=False)
  d_vars = discriminator.init(d_rng, x, train=False)
  e_tx, d_tx = dcgan_train.make_optimizers(config)
  return CETrainState(
      step=jnp.zeros((), jnp.int32), fill_colour=jnp.asarray(fill_colour, jnp.float32),
      e_params=e_vars["params"], e_batch_stats=e_vars["batch_stats"],
      d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
      e_opt_state=e_tx.init(e_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]))


def train_step(state: CETrainState, batch: dict[str, jax.Array], *, encoder, discriminator,
               e_tx, d_tx, adversarial_weight: float):
  """One D update, then one encoder update on (1 - w) l2 + w adversarial.

  batch: {'image': [B, S, S, 3] in [-1, 1], 'mask': [B, S, S] in {0, 1}, 1 = known}.
  """
  images, masks = batch["image"], batch["mask"]
  inputs = ce.prefill(images, masks, state.fill_colour)

  def predict(e_params):
    out, upd = encoder.apply({"params": e_params, "batch_stats": state.e_batch_stats}, inputs,
                             train=True, mutable=["batch_stats"])
    return out, upd["batch_stats"]

  predicted, e_vjp, e_stats = jax.vjp(predict, state.e_params, has_aux=True)

  fake = jax.lax.stop_gradient(ce.composite(images, predicted, masks))
  d_params, d_stats, d_opt_state, d_loss, _, _ = dcgan_train.discriminator_update(
      discriminator, d_tx, state.d_params, state.d_batch_stats, state.d_opt_state, images, fake)

  def e_loss_fn(predicted):
    rec = ce.reconstruction_loss(predicted, images, masks)
    logits, _ = discriminator.apply({"params": d_params, "batch_stats": d_stats},
                                    ce.composite(images, predicted, masks), train=True,
                                    mutable=["batch_stats"])
    adv = ce.adversarial_generator_loss(logits)
    return (1.0 - adversarial_weight) * rec + adversarial_weight * adv, (rec, adv)

  (e_loss, (rec, adv)), d_predicted = jax.value_and_grad(e_loss_fn, has_aux=True)(predicted)
  (e_grads,) = e_vjp(d_predicted)
  e_updates, e_opt_state = e_tx.update(e_grads, state.e_opt_state, state.e_params)
  e_params = optax.apply_updates(state.e_params, e_updates)
  new_state = state.replace(step=state.step + 1, e_params=e_params, e_batch_stats=e_stats,
                            d_params=d_params, d_batch_stats=d_stats, e_opt_state=e_opt_state,
                            d_opt_state=d_opt_state)
  return new_state, {"loss": e_loss, "l2_hole": rec, "adv": adv, "d_loss": d_loss}


def make_train_step(config: ml_collections.ConfigDict):
  encoder, discriminator = ce.build_models(config.model)
  e_tx, d_tx = dcgan_train.make_optimizers(config)
  return jax.jit(functools.partial(train_step, encoder=encoder, discriminator=discriminator,
                                   e_tx=e_tx, d_tx=d_tx,
                                   adversarial_weight=config.adversarial_weight),
                 donate_argnums=0)


def training_masks(config: ml_collections.ConfigDict, step: int) -> np.ndarray:
  """The masks of step `step`: [B, S, S], drawn from seeds apart from evaluation's."""
  indices = step * config.batch_size + np.arange(config.batch_size)
  return masks_lib.make_masks(config.mask_type, config.model.image_size, config.mask_seed, indices)


def mean_colour(source, num_images: int) -> np.ndarray:
  """Mean colour [3] in [-1, 1] of the first `num_images` images of `source`."""
  n = min(num_images, len(source))
  total = np.zeros(3, np.float64)
  for _, images in input_pipeline.eval_batches(source, 256, stop=n):
    total += images.sum(axis=(0, 1, 2))
  return (total / (n * source[0].shape[0] * source[0].shape[1])).astype(np.float32)


def sample_picture(config: ml_collections.ConfigDict, state: CETrainState, source) -> np.ndarray:
  """uint8 picture: 8 training images, their masked inputs and the CE's fills, one row each."""
  images = input_pipeline.to_float(np.stack([source[i] for i in range(min(8, len(source)))]))
  m = masks_lib.make_masks(config.mask_type, config.model.image_size, config.mask_seed,
                           np.arange(len(images)))
  variables = {"params": state.e_params, "batch_stats": state.e_batch_stats}
  filled = ce.fill(variables, images, m, state.fill_colour, config.model)
  shown = np.concatenate([images, np.asarray(ce.prefill(images, m, state.fill_colour)),
                          np.asarray(filled)])
  return image_io.grid(input_pipeline.to_uint8(shown), columns=len(images))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       source=None) -> CETrainState:
  """Trains a CE for `config.num_steps` on `config.mask_type` masks, resuming from `workdir`.

  Writes config.json, checkpoints/, TensorBoard events and samples/step_XXXXXXX.png.
  """
  if config.mask_type not in masks_lib.MASK_TYPES:
    raise ValueError(f"mask_type must be one of {masks_lib.MASK_TYPES}, got {config.mask_type!r}")
  dcgan_train.quiet_library_logs()
  os.makedirs(workdir, exist_ok=True)
  checkpoints.save_config(workdir, config)
  if source is None:
    source = input_pipeline.make_source(config.dataset, config.dataset.train_split,
                                        config.model.image_size)
  logging.info("CE (%s masks) on %d images, batch %d", config.mask_type, len(source),
               config.batch_size)
  state = create_train_state(config, jax.random.PRNGKey(config.seed),
                             mean_colour(source, config.fill_colour_images))
  manager = checkpoints.make_manager(workdir, config.checkpoint_every, config.keep_checkpoints)
  state, restored = checkpoints.restore_latest(manager, state)
  if restored is not None:
    logging.info("resumed from step %d in %s", restored, workdir)
  start = int(state.step)
  step_fn = make_train_step(config)
  writer = dcgan_train.MetricWriter(workdir)
  batches = input_pipeline.training_batches(source, config.batch_size, config.seed, start,
                                            config.num_steps, flip=config.random_flip)
  with tqdm(total=config.num_steps, initial=start, desc=f"CE {config.mask_type}", unit="step",
            disable=not config.get("progress_bar", True)) as bar:
    for step, images in batches:
      batch = {"image": jnp.asarray(images), "mask": jnp.asarray(training_masks(config, step))}
      state, metrics = step_fn(state, batch)
      done = step + 1
      bar.update(1)
      if done % config.log_every == 0 or done == config.num_steps:
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        writer.scalars(done, metrics)
        bar.set_postfix(l2=f"{metrics['l2_hole']:.4f}")
        if not all(np.isfinite(v) for v in metrics.values()):
          raise FloatingPointError(f"non-finite CE metrics at step {done}: {metrics}")
      dcgan_train.save_samples_and_checkpoint(done, state, config, workdir, writer, manager,
                                              lambda: sample_picture(config, state, source))
  manager.wait_until_finished()
  manager.close()
  writer.close()
  return state


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """A CE run's config.json over the CE defaults."""
  path = os.path.join(workdir, checkpoints.CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {checkpoints.CONFIG_FILE} in {workdir}: not a CE training workdir")
  with open(path) as f:
    saved = json.load(f)
  if "mask_type" not in saved or "nf" not in saved.get("model", {}):
    raise ValueError(f"{workdir} is not a Context Encoder workdir (no mask_type / model.nf)")
  return checkpoints.merge_with_defaults(saved, ce_config.get_config())


def load(workdir: str, step: int | None = None):
  """(config, variables {'params', 'batch_stats'}, fill_colour [3]) of a trained CE."""
  config = load_config(workdir)
  tree = checkpoints.restore_tree(workdir, step)
  variables = {"params": tree["e_params"], "batch_stats": tree["e_batch_stats"]}
  return config, jax.tree.map(np.asarray, variables), np.asarray(tree["fill_colour"], np.float32)

