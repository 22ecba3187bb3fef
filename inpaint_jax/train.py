"""DCGAN training: a jitted `train_step(state, batch, rng) -> (state, metrics)` and its loop.

The loop is resumable: the batch of step `s` and the random key of step `s` depend only on
`(config.seed, s)`, so a run killed and started again from its latest checkpoint ends with
bit-identical parameters to an uninterrupted run (on the same device and software).
"""

from __future__ import annotations

import functools
import logging as std_logging
import os
import time
from typing import Any

from absl import logging
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from inpaint_jax import checkpoints
from inpaint_jax import images as image_io
from inpaint_jax import input_pipeline
from inpaint_jax import models


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  g_params: Any
  g_batch_stats: Any
  d_params: Any
  d_batch_stats: Any
  g_opt_state: Any
  d_opt_state: Any


def make_optimizers(config: ml_collections.ConfigDict):
  """Adam for G and D (Radford et al.: lr 2e-4, beta1 0.5)."""
  tx = lambda: optax.adam(config.learning_rate, b1=config.beta1, b2=config.beta2)
  return tx(), tx()


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array) -> TrainState:
  g_vars, d_vars = models.init_variables(config.model, rng)
  g_tx, d_tx = make_optimizers(config)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
      d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
      g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]))


def sample_z(rng: jax.Array, batch_size: int, z_dim: int) -> jax.Array:
  """z ~ U[-1, 1]^z_dim, [B, z_dim]."""
  return jax.random.uniform(rng, (batch_size, z_dim), jnp.float32, -1.0, 1.0)


def discriminator_update(discriminator: nn.Module, d_tx: optax.GradientTransformation, d_params,
                         d_batch_stats, d_opt_state, real: jax.Array, fake: jax.Array):
  """One Adam step of D on real (label 1) and fake (label 0) images, [B, S, S, 3].

  Returns (params, batch_stats, opt_state, loss, real_logits, fake_logits).
  """

  def loss_fn(params):
    # Real and fake go through D separately, as in the reference DCGAN, so batch
    # statistics are never mixed across the two.
    real_logits, upd = discriminator.apply({"params": params, "batch_stats": d_batch_stats},
                                           real, train=True, mutable=["batch_stats"])
    fake_logits, upd = discriminator.apply({"params": params, "batch_stats": upd["batch_stats"]},
                                           fake, train=True, mutable=["batch_stats"])
    loss = (optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)).mean()
            + optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean())
    return loss, (upd["batch_stats"], real_logits, fake_logits)

  (loss, (stats, real_logits, fake_logits)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d_params)
  updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
  return (optax.apply_updates(d_params, updates), stats, d_opt_state, loss, real_logits,
          fake_logits)


def train_step(state: TrainState, batch: jax.Array, rng: jax.Array, *, generator: nn.Module,
               discriminator: nn.Module, g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, z_dim: int):
  """One D update then one G update (non-saturating G loss).

  batch: real images [B, S, S, 3] in [-1, 1]. Returns the new state and scalar metrics.
  """
  z = sample_z(rng, batch.shape[0], z_dim)

  # One G forward serves both updates: D sees it without gradient, and G's gradient is
  # pulled back through the same forward pass (jax.vjp) once D has been updated.
  def generate(g_params):
    fake, upd = generator.apply({"params": g_params, "batch_stats": state.g_batch_stats}, z,
                                train=True, mutable=["batch_stats"])
    return fake, upd["batch_stats"]

  fake, g_vjp, g_stats = jax.vjp(generate, state.g_params, has_aux=True)

  d_params, d_stats, d_opt_state, d_loss, real_logits, fake_logits = discriminator_update(
      discriminator, d_tx, state.d_params, state.d_batch_stats, state.d_opt_state, batch,
      jax.lax.stop_gradient(fake))

  def g_loss_fn(fake):  # non-saturating: -log D(G(z)), through the updated D
    logits, _ = discriminator.apply(
        {"params": d_params, "batch_stats": d_stats}, fake, train=True, mutable=["batch_stats"])
    return optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits)).mean()

  g_loss, d_fake_image = jax.value_and_grad(g_loss_fn)(fake)
  (g_grads,) = g_vjp(d_fake_image)
  g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, g_batch_stats=g_stats, d_params=d_params,
      d_batch_stats=d_stats, g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  metrics = {
      "d_loss": d_loss,
      "g_loss": g_loss,
      "d_real": jax.nn.sigmoid(real_logits).mean(),
      "d_fake": jax.nn.sigmoid(fake_logits).mean(),
  }
  return new_state, metrics


def bind_train_step(config: ml_collections.ConfigDict):
  """`train_step` with the models and optimisers of `config` bound (not jitted)."""
  generator, discriminator = models.build_models(config.model)
  g_tx, d_tx = make_optimizers(config)
  return functools.partial(train_step, generator=generator, discriminator=discriminator,
                           g_tx=g_tx, d_tx=d_tx, z_dim=config.model.z_dim)


def make_train_step(config: ml_collections.ConfigDict):
  """`train_step` for `config`, jitted, with the state buffer donated."""
  return jax.jit(bind_train_step(config), donate_argnums=0)


def step_rng(seed: int, step: int) -> jax.Array:
  """The random key of training step `step`: a function of (seed, step) alone."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), step)


def sample_grid(config: ml_collections.ConfigDict, state: TrainState, num: int = 64) -> np.ndarray:
  """uint8 picture of G(z) for a fixed z (running BN statistics), 8 per row."""
  generator, _ = models.build_models(config.model)
  z = sample_z(jax.random.PRNGKey(config.seed + 1), num, config.model.z_dim)
  x = generator.apply({"params": state.g_params, "batch_stats": state.g_batch_stats}, z,
                      train=False)
  return image_io.grid(input_pipeline.to_uint8(x), columns=8)


class _DropLibraryInfo(std_logging.Filter):
  """Keeps orbax's per-save INFO lines out of the training log (warnings still show)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def quiet_library_logs() -> None:
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _DropLibraryInfo) for f in handler.filters):
    handler.addFilter(_DropLibraryInfo())


class MetricWriter:
  """TensorBoard event files plus a line per log on stdout."""

  def __init__(self, logdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(logdir=logdir)

  def scalars(self, step: int, values: dict[str, float]) -> None:
    for k, v in values.items():
      self._tb.add_scalar(k, v, step)
    logging.info("step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
    self._tb.flush()

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    self._tb.add_image(name, image, step, dataformats="HWC")
    self._tb.flush()

  def close(self):
    self._tb.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       source=None) -> TrainState:
  """Trains a DCGAN for `config.num_steps`, resuming from `workdir` if it has checkpoints.

  Writes to `workdir`: `config.json`, `checkpoints/`, TensorBoard events, and
  `samples/step_XXXXXXX.png` grids. `source` overrides the dataset of the config
  (a random-access sequence of uint8 images, as from `input_pipeline.make_source`).
  """
  quiet_library_logs()
  os.makedirs(workdir, exist_ok=True)
  checkpoints.save_config(workdir, config)
  if source is None:
    source = input_pipeline.make_source(config.dataset, config.dataset.train_split,
                                        config.model.image_size)
  logging.info("training on %d images, batch %d", len(source), config.batch_size)

  state = create_train_state(config, jax.random.PRNGKey(config.seed))
  manager = checkpoints.make_manager(workdir, config.checkpoint_every, config.keep_checkpoints)
  state, restored = checkpoints.restore_latest(manager, state)
  start = int(state.step)
  if restored is not None:
    logging.info("resumed from step %d in %s", restored, workdir)
  train_step_fn = make_train_step(config)
  writer = MetricWriter(workdir)

  last_time, last_step = time.perf_counter(), start
  batches = input_pipeline.training_batches(source, config.batch_size, config.seed, start,
                                            config.num_steps, flip=config.random_flip)
  with tqdm(total=config.num_steps, initial=start, desc="train", unit="step",
            disable=not config.get("progress_bar", True)) as bar:
    for step, batch in batches:
      state, metrics = train_step_fn(state, jnp.asarray(batch), step_rng(config.seed, step))
      done = step + 1
      bar.update(1)
      if done % config.log_every == 0 or done == config.num_steps:
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        now = time.perf_counter()
        metrics["steps_per_sec"] = (done - last_step) / max(now - last_time, 1e-9)
        last_time, last_step = now, done
        writer.scalars(done, metrics)
        bar.set_postfix(d=f"{metrics['d_loss']:.3f}", g=f"{metrics['g_loss']:.3f}")
        if not all(np.isfinite(v) for v in metrics.values()):
          raise FloatingPointError(f"non-finite training metrics at step {done}: {metrics}")
      save_samples_and_checkpoint(done, state, config, workdir, writer, manager,
                                  lambda: sample_grid(config, state))
  manager.wait_until_finished()
  manager.close()
  writer.close()
  return state


def save_samples_and_checkpoint(done: int, state: Any, config: ml_collections.ConfigDict,
                                workdir: str, writer: MetricWriter, manager, picture) -> None:
  """After step `done`: the `picture()` sample grid every `config.sample_every` steps (and
  at the end) to samples/ and TensorBoard, and a checkpoint when the manager's interval says."""
  last = done == config.num_steps
  if done % config.sample_every == 0 or last:
    image = picture()
    image_io.save_png(os.path.join(workdir, "samples", f"step_{done:07d}.png"), image)
    writer.image(done, "samples", image)
  checkpoints.save(manager, done, state, force=last)
