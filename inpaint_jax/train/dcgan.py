"""DCGAN training (Yeh et al. Sec. 3.4, Radford et al.): its state, its step and its `Task`.

    from inpaint_jax.train import dcgan
    state = dcgan.train_and_evaluate(config, workdir)
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.data import images as images_lib
from inpaint_jax.models import dcgan as dcgan_models
from inpaint_jax.train import augment
from inpaint_jax.train import gan
from inpaint_jax.train import loop


class TrainState(flax.struct.PyTreeNode):
  """step; G and D (raw weights, optimiser states: what training resumes from); g_ema:
  G's `{'params', 'batch_stats'}` averaged over steps (`config.ema_decay`), which samples,
  exported models and the search use."""
  step: jax.Array
  g: gan.Net
  d: gan.Net
  g_ema: Any


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array) -> TrainState:
  """The step-0 state: random weights, or G and D of `config.init_from` (a model file or a
  training workdir of the same architecture) with fresh optimiser states."""
  if config.get("init_from"):
    _, g_vars, d_vars = model_files.load_model(config.init_from)
    model_files.check_architecture(config, g_vars, d_vars, config.init_from)
    g_vars, d_vars = jax.tree.map(jnp.asarray, (g_vars, d_vars))
  else:
    g_vars, d_vars = dcgan_models.init_variables(config.model, rng)
  tx = gan.optimizer(config)
  return TrainState(step=jnp.zeros((), jnp.int32), g=gan.Net.create(g_vars, tx),
                    d=gan.Net.create(d_vars, tx),
                    g_ema=jax.tree.map(jnp.copy, g_vars))  # its own buffers: the step donates


def upgrade_checkpoint(tree: dict) -> dict:
  """A state saved before `g_ema` existed resumes with the average starting at its G."""
  if "g_ema" not in tree:
    tree = {**tree, "g_ema": {"params": tree["g"]["params"],
                              "batch_stats": tree["g"]["batch_stats"]}}
  return tree


def sample_z(rng: jax.Array, batch_size: int, z_dim: int) -> jax.Array:
  """z ~ U[-1, 1]^z_dim, [B, z_dim]."""
  return jax.random.uniform(rng, (batch_size, z_dim), jnp.float32, -1.0, 1.0)


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, config: ml_collections.ConfigDict):
  """One D update then one G update (non-saturating G loss); with `config.diff_augment`, D
  sees every real and fake image through that augmentation (`train.augment`).

  batch: {'image': real images [B, S, S, 3] in [-1, 1]}. Returns the new state and scalar
  metrics (d_loss, g_loss, d_real, d_fake).
  """
  generator, discriminator = dcgan_models.build_models(config.model)
  z = sample_z(rng, batch["image"].shape[0], config.model.z_dim)
  policy = augment.parse_policy(config.diff_augment)
  # Real, D's fake and G's fake each get their own draws (z keeps `rng` itself, so a run
  # without augmentation is the same as before the option existed).
  seen = lambda x, i: augment.augment(x, jax.random.fold_in(rng, i), policy)

  def g_loss(fake, d_logits):
    loss = gan.non_saturating_loss(d_logits(seen(fake, 3)))
    return loss, {"g_loss": loss}

  g, d, metrics = gan.adversarial_step(state.g, state.d, z, seen(batch["image"], 1),
                                       network=generator, discriminator=discriminator,
                                       tx=gan.optimizer(config), to_fake=lambda fake: seen(fake, 2),
                                       f_loss=g_loss)
  g_ema = gan.ema_update(state.g_ema, g.variables(), gan.ema_decay(config.ema_decay, state.step))
  return state.replace(step=state.step + 1, g=g, d=d, g_ema=g_ema), metrics


def make_train_step(config: ml_collections.ConfigDict):
  """`train_step` for `config` (not jitted; the loop and the benchmark jit it)."""
  return functools.partial(train_step, config=ml_collections.FrozenConfigDict(config))


def sample_grid(config: ml_collections.ConfigDict, state: TrainState, num: int = 64) -> np.ndarray:
  """uint8 picture of the EMA G(z) for a fixed z (running BN statistics), 8 per row."""
  generator, _ = dcgan_models.build_models(config.model)
  z = sample_z(jax.random.PRNGKey(config.seed + 1), num, config.model.z_dim)
  x = generator.apply(state.g_ema, z, train=False)
  return images_lib.grid(images_lib.to_uint8(x), columns=8)


def task(config: ml_collections.ConfigDict) -> loop.Task:
  """The DCGAN's state, step, batches and sample picture for the training loop."""
  augment.parse_policy(config.diff_augment)  # a bad policy fails before any work
  return loop.Task(
      name="dcgan",
      init_state=lambda source: create_train_state(config, jax.random.PRNGKey(config.seed)),
      train_step=make_train_step(config),
      picture=lambda state, source: sample_grid(config, state),
      shown="g_loss",
      upgrade=upgrade_checkpoint)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, source=None) -> TrainState:
  """Trains a DCGAN for `config.num_steps` in `workdir` (resuming); see `loop.train`."""
  return loop.train(task(config), config, workdir, source)
