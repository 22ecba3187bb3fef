"""The latent search of Yeh et al. Sec. 3.2, Eq. 2: ẑ = argmin_z L_c(z | y, M) + L_p(z).

`search_steps` is written for one image and one z; `search` vmaps it over R random
restarts and B images into one jitted program, and keeps, for each image, the restart
with the lowest final total loss. G and D run with their running batch-norm
statistics, so no image in a batch influences another. On GPU/TPU the 1,500 iterations
run as one rolled `lax.scan`; on CPU as chunks of unrolled steps (`steps_per_call`),
because XLA:CPU runs loop bodies several times slower than straight-line code.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from inpaint_jax.core import losses
from inpaint_jax.models import dcgan
from inpaint_jax.models import latent_encoder


class SearchResult(flax.struct.PyTreeNode):
  """Per image (leading axis B): ẑ [B, z_dim] in [-1, 1]; G(ẑ) [B, S, S, 3] in [-1, 1];
  final context, prior and total losses [B]; the total loss of every restart [B, R];
  the best restart's loss curve [B, T] (T = 0 unless a curve stride is set); the best
  `cfg.fills` = k distinct restarts by total loss: their z [B, k, z_dim], G(z)
  [B, k, S, S, 3], total losses [B, k], and how many are distinct [B] (slots beyond that
  repeat the best); the iterations each image ran [B] (fewer than asked where it stopped
  early)."""

  z: jax.Array
  generated: jax.Array
  context_loss: jax.Array
  prior_loss: jax.Array
  total_loss: jax.Array
  restart_losses: jax.Array
  curve: jax.Array
  fill_z: jax.Array
  fill_generated: jax.Array
  fill_total: jax.Array
  fill_count: jax.Array
  iterations: jax.Array


# The search's numbers (step sizes, weights): traced arguments of the compiled programs
# rather than static ones, so a sweep over them compiles once (tests/test_search.py counts
# the compilations). Adam's betas stay compiled in: traced, 1 - beta is rounded in float32
# rather than folded exactly, and the search drifts ~1e-4 from optax's own Adam.
TRACED = ("learning_rate", "prior_weight", "min_fill_difference", "tune_learning_rate",
          "tune_feature_weight", "latent_noise")


def traced_settings(cfg) -> dict[str, jax.Array]:
  """The numbers of `TRACED` that `cfg` holds, as float32 scalars (a pytree argument)."""
  return {n: jnp.asarray(cfg[n], jnp.float32) for n in TRACED if n in cfg}


class WithNumbers:
  """A static settings block read with its traced numbers (`traced_settings`) in place of
  its own: what the compiled programs see as `cfg`."""

  def __init__(self, static, numbers: dict):
    self._static, self._numbers = static, numbers

  def __getattr__(self, name):
    if name.startswith("_"):
      raise AttributeError(name)
    return self._numbers[name] if name in self._numbers else getattr(self._static, name)

  def __getitem__(self, name):
    return getattr(self, name)

  def __contains__(self, name) -> bool:
    return name in self._numbers or name in self._static

  def get(self, name, default=None):
    return getattr(self, name) if name in self else default


def _losses(z, image, weights, g_vars, d_vars, generator, discriminator, cfg):
  generated = generator.apply(g_vars, z[None], train=False)[0]
  logit = discriminator.apply(d_vars, generated[None], train=False)[0]
  context = losses.context_loss(generated, image, weights, cfg.context_loss)
  prior = losses.prior_loss(logit, cfg.prior_weight, cfg.prior_loss)
  return context + prior, (context, prior, generated)


def _optimizer(cfg) -> optax.GradientTransformation:
  """Adam's moment estimates; the step size (`step_size`) is applied by the caller, so a
  schedule can follow the search's length without recompiling for every length."""
  return optax.scale_by_adam(b1=cfg.beta1, b2=cfg.beta2)


def step_size(cfg, step: jax.Array, total: jax.Array) -> jax.Array:
  """Adam's step size at iteration `step` of `total`: `cfg.learning_rate`, constant (the
  default) or, with `cfg.lr_schedule = 'cosine'`, decayed to 0 along half a cosine."""
  schedule = cfg.get("lr_schedule", "constant")
  if schedule == "constant":
    return jnp.asarray(cfg.learning_rate, jnp.float32)
  if schedule == "cosine":
    progress = jnp.clip(step / jnp.maximum(total, 1), 0.0, 1.0)
    return cfg.learning_rate * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
  raise ValueError(f"search.lr_schedule must be 'constant' or 'cosine', got {schedule!r}")


def search_steps(g_vars: Any, d_vars: Any, image: jax.Array, weights: jax.Array, z: jax.Array,
                 opt_state: Any, *, generator, discriminator, cfg, num_steps: int,
                 unroll: int = 1, total_steps: jax.Array | int | None = None):
  """Advances one z by `num_steps` Adam steps, clipping z to [-1, 1] after every step.

  image: [S, S, 3] in [-1, 1]; weights: [S, S] (Eq. 3); z: [z_dim]. `total_steps`: the
  whole search's length, for the step-size schedule (default `num_steps`). Returns the
  new (z, opt_state) and the total loss before each step, [num_steps].
  """
  tx = _optimizer(cfg)
  total_steps = num_steps if total_steps is None else total_steps
  loss_fn = functools.partial(_losses, image=image, weights=weights, g_vars=g_vars, d_vars=d_vars,
                              generator=generator, discriminator=discriminator, cfg=cfg)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def step(carry, _):
    z, opt_state = carry
    (total, _), grad = grad_fn(z)
    lr = step_size(cfg, opt_state.count, total_steps)  # count: the steps taken so far
    direction, opt_state = tx.update(grad, opt_state, z)
    z = jnp.clip(z - lr * direction, -1.0, 1.0)
    return (z, opt_state), total

  (z, opt_state), totals = jax.lax.scan(step, (z, opt_state), None, length=num_steps,
                                        unroll=unroll)
  return z, opt_state, totals


def final_losses(g_vars, d_vars, image, weights, z, *, generator, discriminator, cfg):
  """(G(z) [S, S, 3], context, prior, total) for one image and one z."""
  total, (context, prior, generated) = _losses(z, image, weights, g_vars, d_vars, generator,
                                               discriminator, cfg)
  return generated, context, prior, total


def search_one(g_vars: Any, d_vars: Any, image: jax.Array, weights: jax.Array, z0: jax.Array, *,
               generator, discriminator, cfg):
  """The whole search for one image and one starting z, as one rolled `lax.scan`.

  Returns (ẑ, G(ẑ), context, prior, total, curve): the final z and its losses, and the
  total loss every `cfg.curve_stride` iterations (empty if the stride is 0).
  """
  models_ = dict(generator=generator, discriminator=discriminator, cfg=cfg)
  z, _, totals = search_steps(g_vars, d_vars, image, weights, z0, _optimizer(cfg).init(z0),
                              num_steps=cfg.iterations, **models_)
  stride = cfg.get("curve_stride", 0)
  curve = totals[::stride] if stride else jnp.zeros((0,), totals.dtype)
  return (z,) + final_losses(g_vars, d_vars, image, weights, z, **models_) + (curve,)


def initial_z(keys: jax.Array, restarts: int, z_dim: int) -> jax.Array:
  """Starting points U[-1, 1], [B, R, z_dim], from one key per image ([B] keys).

  Restart r of an image is drawn from fold_in(its key, r): it depends on nothing else,
  so asking for more restarts keeps the first ones.
  """
  one = lambda key, r: jax.random.uniform(jax.random.fold_in(key, r), (z_dim,), jnp.float32,
                                          -1.0, 1.0)
  per_image = lambda key: jax.vmap(lambda r: one(key, r))(jnp.arange(restarts))
  return jax.vmap(per_image)(keys)


def _over_restarts_and_images(fn, n_batched_after: int):
  """vmap `fn(g_vars, d_vars, image, weights, *per_restart)` over restarts, then images."""
  over_restarts = jax.vmap(fn, in_axes=(None, None, None, None) + (0,) * n_batched_after)
  return jax.vmap(over_restarts, in_axes=(None, None, 0, 0) + (0,) * n_batched_after)


def _models(model_cfg, cfg):
  generator, discriminator = dcgan.build_models(model_cfg)
  return dict(generator=generator, discriminator=discriminator, cfg=cfg)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _weights(masks, cfg):
  return jax.vmap(lambda m: losses.context_weights(m, cfg.weighting, cfg.window))(masks)


@jax.jit
def _init(z0):
  return jax.vmap(jax.vmap(optax.scale_by_adam().init))(z0)  # the betas do not enter it


@functools.partial(jax.jit, static_argnames=("model_cfg", "cfg", "num_steps", "unroll"),
                   donate_argnames=("z", "opt_state"))
def _advance(g_vars, d_vars, images, weights, z, opt_state, total_steps, numbers, model_cfg, cfg,
             num_steps, unroll):
  cfg = WithNumbers(cfg, numbers)
  fn = functools.partial(search_steps, num_steps=num_steps, unroll=unroll,
                         total_steps=total_steps, **_models(model_cfg, cfg))
  return _over_restarts_and_images(fn, 2)(g_vars, d_vars, images, weights, z, opt_state)


def distinct_best(generated: jax.Array, total: jax.Array, hole: jax.Array, k: int,
                  min_difference: float) -> tuple[jax.Array, jax.Array]:
  """Greedy choice of one image's k best distinct restarts: in order of total loss, a
  restart is kept if its G(z) differs from every kept one by at least `min_difference`
  (mean |difference| over the hole). generated [R, S, S, 3], total [R], hole [S, S] (1 =
  missing). Returns (restart indices [k], sorted by loss; slots past the count hold the
  best), the count of distinct ones)."""
  order = jnp.argsort(total)
  if k == 1:  # the best alone: nothing to compare it with
    return order[:1].astype(jnp.int32), jnp.ones((), jnp.int32)
  chosen = jnp.zeros((k,), jnp.int32)
  valid = jnp.zeros((k,), bool)
  area = 3.0 * jnp.maximum(hole.sum(), 1.0)
  for j in range(total.shape[0]):  # R is small and static
    candidate = order[j]
    diff = jnp.sum(jnp.abs(generated[chosen] - generated[candidate]) * hole[None, :, :, None],
                   axis=(1, 2, 3)) / area
    count = valid.sum()
    accept = jnp.all(jnp.where(valid, diff >= min_difference, True)) & (count < k)
    chosen = jnp.where(accept, chosen.at[count].set(candidate), chosen)
    valid = jnp.where(accept, valid.at[count].set(True), valid)
  return jnp.where(valid, chosen, order[0]), valid.sum()


@functools.partial(jax.jit, static_argnames=("model_cfg", "cfg"))
def _finish(g_vars, d_vars, images, masks, weights, z, totals, iterations, numbers, model_cfg,
            cfg):
  cfg = WithNumbers(cfg, numbers)
  fn = functools.partial(final_losses, **_models(model_cfg, cfg))
  generated, context, prior, total = _over_restarts_and_images(fn, 1)(g_vars, d_vars, images,
                                                                       weights, z)
  k = cfg.get("fills", 1)
  chosen, count = jax.vmap(lambda g, t, m: distinct_best(g, t, 1.0 - m, k,
                                                         cfg.get("min_fill_difference", 0.0)))(
                                                             generated, total, masks)
  take = lambda a: jnp.take_along_axis(a, chosen.reshape(chosen.shape + (1,) * (a.ndim - 2)), 1)
  pick = lambda a: take(a)[:, 0]
  stride = cfg.get("curve_stride", 0)
  curve = pick(totals)[:, ::stride] if stride else jnp.zeros((z.shape[0], 0), totals.dtype)
  return SearchResult(z=pick(z), generated=pick(generated), context_loss=pick(context),
                      prior_loss=pick(prior), total_loss=pick(total), restart_losses=total,
                      curve=curve, fill_z=take(z), fill_generated=take(generated),
                      fill_total=take(total), fill_count=count, iterations=iterations)


@functools.partial(jax.jit, static_argnames=("encoder_cfg", "model_cfg"))
def encoder_start(e_vars: Any, images: jax.Array, masks: jax.Array, z0: jax.Array,
                  encoder_cfg, model_cfg) -> jax.Array:
  """z0 [B, R, z_dim] with restart 0 replaced by E's z for each masked image (Lahiri et al.
  2020): images [B, S, S, 3] in [-1, 1], masks [B, S, S], 1 = known."""
  z = latent_encoder.build(encoder_cfg, model_cfg).apply(e_vars, images, masks, train=False)
  return z0.at[:, 0].set(z)


def latent_codes(z: jax.Array, eps: jax.Array, sigma: float | jax.Array) -> jax.Array:
  """One image's ẑ and its K copies clip(ẑ + sigma·ε_k, -1, 1): z [z_dim], eps [K, z_dim]
  -> [K + 1, z_dim] (K may be 0: ẑ alone)."""
  return jnp.concatenate([z[None], jnp.clip(z[None] + sigma * eps, -1.0, 1.0)])


def latent_average(g_vars: Any, z: jax.Array, noise: jax.Array, sigma: float | jax.Array,
                   model_cfg) -> jax.Array:
  """G's mean over ẑ and K copies clip(ẑ + sigma·ε_k, -1, 1): z [B, z_dim], noise ε
  [B, K, z_dim] -> [B, S, S, 3] in [-1, 1]. Nearer the mean of the fills that G makes near
  ẑ than G(ẑ) alone: higher PSNR on wide holes, softer detail (BUILD_NOTES 0.15)."""
  return _latent_average(g_vars, z, noise, jnp.float32(sigma),
                         ml_collections.FrozenConfigDict(model_cfg))


@functools.partial(jax.jit, static_argnames=("model_cfg",))
def _latent_average(g_vars, z, noise, sigma, model_cfg):
  generator = dcgan.build_models(model_cfg)[0]

  def one(z, eps):
    return jnp.mean(generator.apply(g_vars, latent_codes(z, eps, sigma), train=False), axis=0)

  return jax.vmap(one)(z, noise)


# The settings compiled into the search programs (their shapes and code paths); the numbers
# (`TRACED`) are arguments, the rest (iterations, restarts, ...) is read by the host loop.
_COMPILED = ("beta1", "beta2", "lr_schedule", "context_loss", "prior_loss", "weighting", "window",
             "fills", "curve_stride")


def compiled_settings(cfg, names) -> ml_collections.FrozenConfigDict:
  """The settings of `cfg` among `names` (those present), as a hashable static argument."""
  return ml_collections.FrozenConfigDict({n: cfg[n] for n in names if n in cfg})


def steps_per_call(cfg) -> int:
  """Iterations per compiled call: all of them in one rolled scan (0), or chunks of
  fully unrolled steps. XLA:CPU runs a while loop's body ~4.5x slower than the same ops
  unrolled (BUILD_NOTES.md), so on CPU the default (-1) is chunks of 10."""
  n = cfg.get("steps_per_call", -1)
  if n < 0:
    n = 10 if jax.default_backend() == "cpu" else 0
  return n


def search(g_vars: Any, d_vars: Any, images: jax.Array, masks: jax.Array, z0: jax.Array,
           model_cfg: ml_collections.ConfigDict, cfg: ml_collections.ConfigDict,
           progress=None) -> SearchResult:
  """Searches z for a batch of images from the starting points z0, [B, R, z_dim].

  g_vars, d_vars: `{'params', 'batch_stats'}` of G and D. images: [B, S, S, 3] in [-1, 1];
  masks: [B, S, S], 1 = known. `progress(n)` is called after every compiled call of n
  iterations (and once with the rest where every image stopped early). Each image keeps
  the restart with the lowest final total loss (and the best `cfg.fills` distinct ones).
  With `cfg.halving_every = T`, every T iterations each image's restarts are cut to the
  better half (by their latest total loss) until one (or `fills`) is left;
  `restart_losses` then holds the final losses of the restarts still running.
  With `cfg.stop_every = N`, every N iterations an image whose best total loss fell by less
  than the fraction `cfg.stop_tolerance` over those N iterations stops: it keeps its z, and
  the images still running are re-packed into a smaller batch, so it costs nothing more.
  """
  images = jnp.asarray(images, jnp.float32)
  masks = jnp.asarray(masks, jnp.float32)
  # Hashable views, so jit can treat the configs as static arguments.
  model_cfg = ml_collections.FrozenConfigDict(model_cfg)
  cfg = ml_collections.FrozenConfigDict(cfg)
  compiled = compiled_settings(cfg, _COMPILED)
  numbers = traced_settings(cfg)
  weights = _weights(masks, compiled)
  z0 = jnp.asarray(z0, jnp.float32)
  z, opt_state = jnp.array(z0), _init(z0)
  per_call = steps_per_call(cfg)
  halving = cfg.get("halving_every", 0)
  stop_every = cfg.get("stop_every", 0)
  keep_at_least = max(1, cfg.get("fills", 1))
  stride = cfg.get("curve_stride", 0)
  # Chunks end wherever restarts are halved or images may stop.
  chunk = math.gcd(*[p for p in (per_call, halving, stop_every) if p] or [cfg.iterations])
  total_steps = jnp.int32(cfg.iterations)
  batch = _Running(images, weights, stop_every > 0)
  ran = np.zeros(images.shape[0], np.int32)  # iterations per image
  best_before = None  # each image's best total loss at the previous stopping check
  totals, done = [], 0
  while done < cfg.iterations and batch.count:
    n = min(chunk, cfg.iterations - done)
    unroll = n if per_call else 1
    z, opt_state, t = _advance(g_vars, d_vars, *batch.inputs(), z, opt_state, total_steps,
                               numbers, model_cfg, compiled, n, unroll)
    z, opt_state, t = batch.whole(z, opt_state, t, totals[-1] if totals else None)
    if stop_every and best_before is None:  # the loss before the first step
      best_before = t[:, :, 0].min(axis=1)
    ran[batch.running] += n
    # Only a recorded curve needs every loss; otherwise the latest chunk's is enough.
    totals = totals + [t] if stride else [t]
    done += n
    if progress is not None:
      progress(n)
    if done >= cfg.iterations:
      break
    if halving and done % halving == 0 and z.shape[1] > keep_at_least:
      z, opt_state, kept = _keep_better_half(z, opt_state, _joined(totals), keep_at_least)
      totals = [kept]
    if stop_every and done % stop_every == 0:
      best_now = totals[-1][:, :, -1].min(axis=1)
      tolerance = cfg.get("stop_tolerance", 1e-3)
      batch.keep(np.asarray(best_now < best_before * (1.0 - tolerance)))
      best_before = best_now
    z, opt_state = batch.select(z, opt_state)
  if progress is not None and done < cfg.iterations:  # every image stopped early
    progress(cfg.iterations - done)
  # Without a curve only the final losses matter: one fixed shape, one compiled _finish.
  totals = _joined(totals) if stride else totals[-1][..., -1:]
  return _finish(g_vars, d_vars, images, masks, weights, z, totals, jnp.asarray(ran), numbers,
                 model_cfg, compiled)


class _Running:
  """The images of a batch still being searched (per-image stopping). While all of them
  run, the whole batch passes through untouched. Once some have stopped, `select` gathers
  the running ones into a smaller batch (padded to a power of two, so few shapes compile)
  and `whole` scatters their new state back into the whole batch, where the stopped images
  keep theirs."""

  def __init__(self, images, weights, enabled: bool):
    self._images, self._weights = images, weights
    self._size = images.shape[0]
    self.running = np.arange(self._size) if enabled else slice(None)
    self._rows = None  # the gathered rows (running images, then padding), or None: all
    self._full = None  # (z, opt_state) of the whole batch when the rows were gathered
    self._inputs = (None, None)  # (rows, their images and weights): gathered once per set

  @property
  def count(self) -> int:
    return self._size if isinstance(self.running, slice) else len(self.running)

  def keep(self, still_running: np.ndarray) -> None:
    """Stops the running images whose entry of `still_running` [B] is False."""
    self.running = self.running[still_running[self.running]]

  def inputs(self):
    """(images, weights) of the rows being searched."""
    if self._rows is None:
      return self._images, self._weights
    rows, gathered = self._inputs
    if rows is None or not np.array_equal(rows, self._rows):  # the running set changed
      gathered = _gather((self._images, self._weights), self._rows, self._images)
      self._inputs = (self._rows, gathered)
    return gathered

  def select(self, z, opt_state):
    """The whole batch's (z, opt_state) -> the running images' (all: unchanged)."""
    self._full, self._rows = (z, opt_state), None
    if self.count in (0, self._size):
      return z, opt_state
    devices = _devices(self._images)
    size = min(self._size, max(2 ** math.ceil(math.log2(self.count)), devices))
    size += (-size) % devices
    pad = np.repeat(self.running[-1:], size - self.count)
    self._rows = np.concatenate([self.running, pad]).astype(np.int32)
    return _gather((z, opt_state), self._rows, self._images)

  def whole(self, z, opt_state, t, last):
    """The searched rows' (z, opt_state, chunk losses t [b, R, n]) -> the whole batch's;
    a stopped image's losses repeat its latest (`last` [B, R, T])."""
    if self._rows is None:
      return z, opt_state, t
    rows, n = jnp.asarray(self.running), self.count
    put = lambda full, part: full.at[rows].set(part[:n])
    z, opt_state = jax.tree.map(put, self._full, (z, opt_state))
    held = jnp.broadcast_to(last[:, :, -1:], last.shape[:2] + t.shape[2:])
    return z, opt_state, put(held, t)


def _devices(like) -> int:
  sharding = getattr(like, "sharding", None)
  return sharding.mesh.devices.size if isinstance(sharding, jax.sharding.NamedSharding) else 1


def _gather(tree, rows, like):
  """Rows of every array of `tree`, sharded over the batch axis like `like`."""
  taken = jax.tree.map(lambda a: jnp.take(a, jnp.asarray(rows), axis=0), tree)
  sharding = getattr(like, "sharding", None)
  if isinstance(sharding, jax.sharding.NamedSharding):
    taken = jax.device_put(taken, sharding)
  return taken


def _joined(totals: list[jax.Array]) -> jax.Array:
  return jnp.concatenate(totals, axis=-1) if len(totals) > 1 else totals[0]


@functools.partial(jax.jit, static_argnames=("at_least",))
def _keep_better_half(z, opt_state, totals, at_least: int = 1):
  """Successive halving (Jamieson & Talwalkar 2016): each image keeps the half of its
  restarts (rounded up, at least `at_least`) with the lowest latest total loss, in their
  original order, so the pruned ones cost nothing from here on. z [B, R, z_dim], totals
  [B, R, T]."""
  keep = max((z.shape[1] + 1) // 2, at_least)
  best = jnp.sort(jnp.argsort(totals[:, :, -1], axis=1)[:, :keep], axis=1)
  take = lambda a: jnp.take_along_axis(a, best.reshape(best.shape + (1,) * (a.ndim - 2)), axis=1)
  return take(z), jax.tree.map(take, opt_state), take(totals)
