"""The latent search of Yeh et al. Sec. 3.2, Eq. 2: ẑ = argmin_z L_c(z | y, M) + L_p(z).

`search_one` is written for one image and one z. `search` vmaps it over R random
restarts and B images into one jitted program, and keeps, for each image, the restart
with the lowest final total loss. G and D run with their running batch-norm
statistics, so no image in a batch influences another.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from inpaint_jax import losses
from inpaint_jax import models


class SearchResult(flax.struct.PyTreeNode):
  """Per image (leading axis B): ẑ [B, z_dim] in [-1, 1]; G(ẑ) [B, S, S, 3] in [-1, 1];
  final context, prior and total losses [B]; the total loss of every restart [B, R];
  the best restart's loss curve [B, T] (T = 0 unless a curve stride is set)."""

  z: jax.Array
  generated: jax.Array
  context_loss: jax.Array
  prior_loss: jax.Array
  total_loss: jax.Array
  restart_losses: jax.Array
  curve: jax.Array


def _losses(z, image, weights, g_vars, d_vars, generator, discriminator, cfg):
  generated = generator.apply(g_vars, z[None], train=False)[0]
  logit = discriminator.apply(d_vars, generated[None], train=False)[0]
  context = losses.context_loss(generated, image, weights, cfg.context_loss)
  prior = losses.prior_loss(logit, cfg.prior_weight, cfg.prior_loss)
  return context + prior, (context, prior, generated)


def search_one(g_vars: Any, d_vars: Any, image: jax.Array, weights: jax.Array, z0: jax.Array, *,
               generator, discriminator, cfg: ml_collections.ConfigDict):
  """Adam on one z for `cfg.iterations` steps, z clipped to [-1, 1] after every step.

  image: [S, S, 3] in [-1, 1]; weights: [S, S] (Eq. 3); z0: [z_dim] in [-1, 1].
  Returns (z, generated, context, prior, total, curve) for the final z; curve holds the
  total loss every `cfg.curve_stride` iterations (empty if the stride is 0).
  """
  tx = optax.adam(cfg.learning_rate, b1=cfg.beta1, b2=cfg.beta2)
  loss_fn = functools.partial(_losses, image=image, weights=weights, g_vars=g_vars, d_vars=d_vars,
                              generator=generator, discriminator=discriminator, cfg=cfg)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def step(carry, _):
    z, opt_state = carry
    (total, _), grad = grad_fn(z)
    updates, opt_state = tx.update(grad, opt_state, z)
    z = jnp.clip(optax.apply_updates(z, updates), -1.0, 1.0)
    return (z, opt_state), total

  stride = cfg.get("curve_stride", 0)
  (z, _), totals = jax.lax.scan(step, (z0, tx.init(z0)), None, length=cfg.iterations)
  curve = totals[::stride] if stride else jnp.zeros((0,), totals.dtype)
  total, (context, prior, generated) = loss_fn(z)
  return z, generated, context, prior, total, curve


def initial_z(rng: jax.Array, batch: int, restarts: int, z_dim: int) -> jax.Array:
  """Starting points of the search, U[-1, 1], [B, R, z_dim]."""
  return jax.random.uniform(rng, (batch, restarts, z_dim), jnp.float32, -1.0, 1.0)


@functools.partial(jax.jit, static_argnames=("model_cfg", "cfg"))
def _search(g_vars, d_vars, images, masks, z0, model_cfg, cfg):
  generator, discriminator = models.build_models(model_cfg)
  one = functools.partial(search_one, generator=generator, discriminator=discriminator, cfg=cfg)
  weights = jax.vmap(lambda m: losses.context_weights(m, cfg.weighting, cfg.window))(masks)
  over_restarts = jax.vmap(one, in_axes=(None, None, None, None, 0))
  over_images = jax.vmap(over_restarts, in_axes=(None, None, 0, 0, 0))
  z, generated, context, prior, total, curve = over_images(g_vars, d_vars, images, weights, z0)
  best = jnp.argmin(total, axis=1)
  pick = lambda a: jnp.take_along_axis(a, best.reshape((-1, 1) + (1,) * (a.ndim - 2)), axis=1)[:, 0]
  return SearchResult(z=pick(z), generated=pick(generated), context_loss=pick(context),
                      prior_loss=pick(prior), total_loss=pick(total), restart_losses=total,
                      curve=pick(curve))


class _Frozen:
  """A hashable view of a ConfigDict, so jit can treat it as static."""

  def __init__(self, cfg: ml_collections.ConfigDict):
    self._items = tuple(sorted(cfg.to_dict().items()))
    for k, v in self._items:
      setattr(self, k, v)

  def get(self, key, default=None):
    return getattr(self, key, default)

  def __hash__(self):
    return hash(self._items)

  def __eq__(self, other):
    return isinstance(other, _Frozen) and self._items == other._items


def search(g_vars: Any, d_vars: Any, images: jax.Array, masks: jax.Array, rng: jax.Array,
           model_cfg: ml_collections.ConfigDict, cfg: ml_collections.ConfigDict,
           z0: jax.Array | None = None) -> SearchResult:
  """Searches z for a batch of images with `cfg.restarts` random restarts each.

  g_vars, d_vars: `{'params', 'batch_stats'}` of G and D. images: [B, S, S, 3] in [-1, 1];
  masks: [B, S, S], 1 = known. z0 (optional): starting points [B, R, z_dim], otherwise
  drawn from `rng`. See `SearchResult` for what comes back.
  """
  b = images.shape[0]
  if z0 is None:
    z0 = initial_z(rng, b, cfg.restarts, model_cfg.z_dim)
  return _search(g_vars, d_vars, jnp.asarray(images, jnp.float32), jnp.asarray(masks, jnp.float32),
                 z0, _Frozen(model_cfg), _Frozen(cfg))
