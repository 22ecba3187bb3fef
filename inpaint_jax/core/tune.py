"""Per-image generator tuning after the latent search (after Pan et al., Deep Generative
Prior, ECCV 2020).

The search finds the z whose G(z) best fits the known pixels; no z of a small G fits a
face it never saw exactly. Tuning then moves a per-image copy of G's weights, z fixed,
for `tune_steps` Adam steps on the search's context loss (Eq. 5, weights of Eq. 3) plus a
discriminator-feature term that keeps the image one D finds natural. The layers are
freed progressively from the output back (DGP's schedule): the first stage tunes only the
last layer, the last stage all of them. `tune_steps` is written for one image; `tune`
vmaps it over a batch (each image gets its own weights) and runs it in compiled chunks.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from inpaint_jax.core import losses
from inpaint_jax.core import search as search_lib
from inpaint_jax.models import dcgan


def layer_depths(g_params: Any) -> tuple[Any, int]:
  """(a tree like `g_params` of each leaf's block number, the number of blocks): block 0 is
  the projection of z, block i + 1 the i-th upsampling layer (with its batch norm)."""
  def depth(path, _):
    name = str(path[0].key)
    if name in ("project", "bn_project"):
      return 0
    return int(name.rsplit("deconv", 1)[1]) + 1
  depths = jax.tree_util.tree_map_with_path(depth, g_params)
  return depths, max(jax.tree.leaves(depths)) + 1


def feature_loss(features_a, features_b) -> jax.Array:
  """Sum over D's layers of the mean |difference| of their activations (one image)."""
  return sum(jnp.abs(a - b).mean() for a, b in zip(features_a, features_b))


def _optimizer(cfg) -> optax.GradientTransformation:
  return optax.adam(cfg.tune_learning_rate)


def tune_steps(g_stats: Any, d_vars: Any, image: jax.Array, mask: jax.Array, weights: jax.Array,
               z: jax.Array, params: Any, opt_state: Any, first: jax.Array, total: jax.Array, *,
               generator, discriminator, cfg, num_steps: int):
  """Steps first .. first + num_steps - 1 (of `total`) of one image's tuning.

  g_stats: G's batch statistics (fixed); params, opt_state: this image's copy of G's
  params and its Adam state; image: [S, S, 3] in [-1, 1]; mask: [S, S], 1 = known; weights:
  [S, S] (Eq. 3); z: [z_dim]. Returns (params, opt_state, the loss before each step).
  """
  depths, blocks = layer_depths(params)
  tx = _optimizer(cfg)
  known = mask[..., None]
  target_features = dcgan.discriminator_features(discriminator, d_vars, (known * image)[None])

  def loss_fn(p):
    generated = generator.apply({"params": p, "batch_stats": g_stats}, z[None], train=False)[0]
    features = dcgan.discriminator_features(discriminator, d_vars, (known * generated)[None])
    return (losses.context_loss(generated, image, weights, cfg.context_loss)
            + cfg.tune_feature_weight * feature_loss(features, target_features))

  def step(carry, t):
    params, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(params)
    # Stage s of `blocks` frees the last s + 1 blocks.
    first_free = blocks - 1 - (t * blocks) // total
    grads = jax.tree.map(lambda g, d: jnp.where(d >= first_free, g, 0.0), grads, depths)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  (params, opt_state), curve = jax.lax.scan(step, (params, opt_state),
                                            first + jnp.arange(num_steps))
  return params, opt_state, curve


def tuned_params(g_vars: Any, d_vars: Any, image: jax.Array, mask: jax.Array,
                 weights: jax.Array, z: jax.Array, *, generator, discriminator, cfg
                 ) -> tuple[Any, jax.Array]:
  """All `cfg.tune_steps` of one image's tuning in one scan: (the tuned params, the loss
  before each step [tune_steps])."""
  params = g_vars["params"]
  params, _, curve = tune_steps(g_vars["batch_stats"], d_vars, image, mask, weights, z, params,
                                _optimizer(cfg).init(params), 0, cfg.tune_steps,
                                generator=generator, discriminator=discriminator, cfg=cfg,
                                num_steps=cfg.tune_steps)
  return params, curve


# What is compiled into the tuning programs (the number of steps is an argument, so tuning
# for another length reuses them; the step size and feature weight are traced numbers).
_COMPILED = ("context_loss", "weighting", "window")
# Everything `tune` reads from a search block but its numbers: one compiled tuning per value.
STATIC = _COMPILED + ("tune_steps", "steps_per_call")


@functools.partial(jax.jit, static_argnames=("cfg",))
def _start(g_params, masks, cfg):
  weights = jax.vmap(lambda m: losses.context_weights(m, cfg.weighting, cfg.window))(masks)
  copies = jax.tree.map(lambda a: jnp.broadcast_to(a, (masks.shape[0],) + a.shape), g_params)
  return weights, copies, jax.vmap(optax.adam(1.0).init)(copies)  # the step size does not enter


@functools.partial(jax.jit, static_argnames=("model_cfg", "cfg", "num_steps"),
                   donate_argnames=("params", "opt_state"))
def _advance(g_stats, d_vars, images, masks, weights, z, params, opt_state, first, total,
             numbers, model_cfg, cfg, num_steps):
  cfg = search_lib.WithNumbers(cfg, numbers)
  generator, discriminator = dcgan.build_models(model_cfg)
  fn = functools.partial(tune_steps, generator=generator, discriminator=discriminator, cfg=cfg,
                         num_steps=num_steps)
  return jax.vmap(fn, in_axes=(None, None, 0, 0, 0, 0, 0, 0, None, None))(
      g_stats, d_vars, images, masks, weights, z, params, opt_state, first, total)


@functools.partial(jax.jit, static_argnames=("model_cfg",))
def _generate(g_stats, params, z, noise, sigma, model_cfg):
  """Each image's tuned G over its ẑ and latent copies (`search.latent_codes`), averaged."""
  generator, _ = dcgan.build_models(model_cfg)
  one = lambda p, zz, eps: jnp.mean(generator.apply(
      {"params": p, "batch_stats": g_stats}, search_lib.latent_codes(zz, eps, sigma),
      train=False), axis=0)
  return jax.vmap(one)(params, z, noise)


def tune(g_vars: Any, d_vars: Any, images: jax.Array, masks: jax.Array, z: jax.Array,
         model_cfg: ml_collections.ConfigDict, cfg: ml_collections.ConfigDict,
         numbers: dict | None = None, noise: jax.Array | None = None):
  """`cfg.tune_steps` steps of tuning for a batch, each image its own copy of G, in compiled
  chunks of `search.steps_per_call(cfg)` steps (all at once where that is 0).

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S], 1 = known; z: [B, z_dim]. Returns
  (the tuned G(z) [B, S, S, 3] in [-1, 1], loss curves [B, tune_steps]). numbers: the
  traced settings (default `search.traced_settings(cfg)`). noise: [B, K, z_dim] ε of
  `search.latent_samples` (None: G(ẑ) alone), the tuned G averaged over the copies of ẑ
  it makes with the search's latent_noise (`search.latent_average` for the untuned G).
  """
  model_cfg = ml_collections.FrozenConfigDict(model_cfg)
  compiled = search_lib.compiled_settings(cfg, _COMPILED)
  numbers = search_lib.traced_settings(cfg) if numbers is None else numbers
  total = cfg.tune_steps
  chunk = search_lib.steps_per_call(cfg) or total
  weights, params, opt_state = _start(g_vars["params"], masks, compiled)
  curves, done = [], 0
  while done < total:
    n = min(chunk, total - done)
    params, opt_state, curve = _advance(g_vars["batch_stats"], d_vars, images, masks, weights, z,
                                        params, opt_state, jnp.int32(done), jnp.int32(total),
                                        numbers, model_cfg, compiled, n)
    curves.append(curve)
    done += n
  if noise is None:
    noise = jnp.zeros(z.shape[:1] + (0,) + z.shape[1:], z.dtype)
  generated = _generate(g_vars["batch_stats"], params, z, noise,
                        jnp.float32(numbers.get("latent_noise", 0.0)), model_cfg)
  return generated, jnp.concatenate(curves, axis=1)
