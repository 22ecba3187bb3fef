"""`inpaint`: the method of Yeh et al. for a batch (latent search, then Poisson blending).

Every entry point (CLI, demo, examples, whole-split runner, Table 1, figures) calls
`inpaint`, so they all compute the same thing:

    from inpaint_jax.core import inpaint
    from inpaint_jax.data import images as images_lib, masks
    from inpaint_jax import model_files
    config, params = model_files.load_params("runs/celeba")
    m = masks.make_masks("center", 64, seed=0, ids=images_lib.pixel_hashes(images))
    out = inpaint.inpaint(images, m, params, config)
    out.blended  # [B, 64, 64, 3] in [-1, 1]

Per-image determinism: image i's starting points come from fold_in(PRNGKey(seed), id_i),
where id_i is a hash of its pixels (`data.images.pixel_hashes`) unless ids are given. Nothing
depends on its position in the batch, the batch size, the chunking or the device count:
G and D run with running batch statistics, so images never influence each other.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np

from inpaint_jax.core import blend
from inpaint_jax.core import search as search_lib
from inpaint_jax.core import tune as tune_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.models import layers


class InpaintResult(NamedTuple):
  """blended: Poisson-blended result [B, S, S, 3] in [-1, 1], known pixels exactly the input;
  generated: G(ẑ) [B, S, S, 3] (the tuned G's where tuning is on); z: ẑ [B, z_dim];
  losses: dict of [B] arrays (context, prior, total: the search's), `restarts` [B, R] and
  `fills` [B, k]; curve: [B, T] loss curve (T may be 0); ids: the image ids [B] that keyed
  the starting points; fills: the k best distinct fills, blended, [B, k, S, S, 3], sorted by
  total loss (fills[:, 0] is `blended`); fill_count: how many of them are distinct [B]
  (later slots repeat the best); iterations: the search iterations each image ran [B]
  (fewer than asked where it stopped early, `search.stop_every`). With `search.mirror`,
  generated and fills are the means of the image's and its mirror image's (flipped back);
  z, losses, curve and iterations are the image's own search's."""

  blended: np.ndarray
  generated: np.ndarray
  z: np.ndarray
  losses: dict
  curve: np.ndarray
  ids: np.ndarray
  fills: np.ndarray
  fill_count: np.ndarray
  iterations: np.ndarray


def validate(images, masks, image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Checks a batch and returns float32 copies; raises ValueError naming the problem.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S] of 0/1 (1 = known).
  """
  images = np.asarray(images, np.float32)
  masks = np.asarray(masks, np.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
  if not len(images):
    raise ValueError(f"images is an empty batch (shape {images.shape}); pass at least one image")
  if masks.shape != images.shape[:3]:
    raise ValueError(f"masks must be [B, H, W] = {images.shape[:3]} to match the images, "
                     f"got shape {masks.shape}")
  if image_size is not None and images.shape[1:3] != (image_size, image_size):
    raise ValueError(f"images are {images.shape[1]}x{images.shape[2]} but the model makes "
                     f"{image_size}x{image_size}")
  if not np.isfinite(images).all():
    raise ValueError(f"images contain {int((~np.isfinite(images)).sum())} NaN or infinite values")
  if not np.isfinite(masks).all():
    raise ValueError(f"masks contain {int((~np.isfinite(masks)).sum())} NaN or infinite values")
  if images.min() < -1.0 or images.max() > 1.0:
    raise ValueError(f"image values must lie in [-1, 1], got [{images.min():.4g}, "
                     f"{images.max():.4g}]")
  bad = ~np.isin(masks, (0.0, 1.0))
  if bad.any():
    raise ValueError(f"masks must be binary (0 = missing, 1 = known); found {int(bad.sum())} "
                     f"other values, e.g. {masks[bad][0]:.4g}")
  return images, masks


def image_keys(seed: int, ids: Sequence[int]) -> jax.Array:
  """One PRNG key per image, [B] keys: fold_in(PRNGKey(seed), id)."""
  ids = jnp.asarray(np.asarray(ids, np.int64) & 0x7FFFFFFF, jnp.uint32)
  return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(ids)


def _local_mesh() -> Mesh:
  return Mesh(np.array(jax.local_devices()), ("data",))


def _blend_per_device(y, generated, m, cfg, mesh):
  """Poisson blend with each device solving its own shard: a vmapped CG loop tests
  convergence over the whole batch, which sharded would cost an all-reduce per CG
  iteration; per shard it costs none, and per-image results are the same."""
  mix = (cfg.blend_mix_window, cfg.blend_mix_low, cfg.blend_mix_high, cfg.blend_mix_thick)
  return _sharded_blend(mesh, cfg.blend_tol, cfg.blend_maxiter, mix)(y, generated, m)


@functools.lru_cache(maxsize=16)
def _sharded_blend(mesh, tol, maxiter, mix):
  """One jitted blend per (mesh, tolerance, iterations, mix settings): built once, so later
  chunks and calls reuse its compiled program."""
  window, low, high, thick = mix
  if window:
    run = lambda a, b, c: blend.mixed_blend(a, b, c, window, low, high, thick, tol, maxiter)
  else:
    run = lambda a, b, c: blend.poisson_blend(a, b, c, tol, maxiter)
  return jax.jit(jax.shard_map(run, mesh=mesh, in_specs=(P("data"),) * 3, out_specs=P("data"),
                               check_vma=False))  # cg's internals are not annotated for it


@functools.lru_cache(maxsize=16)
def _sharded_tune(mesh, model_cfg, cfg):
  """Generator tuning with each device tuning its own images, as one device would: left to
  XLA's partitioner, the per-image weight copies of a batch sharded over several devices
  came out different from a one-device run (52/255 on a shipped face, BUILD_NOTES 0.11)."""
  def local(g_vars, d_vars, images, masks, z, noise, numbers):
    return tune_lib.tune(g_vars, d_vars, images, masks, z, model_cfg, cfg, numbers, noise)[0]

  return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P("data"), P("data"),
                                                           P("data"), P("data"), P()),
                               out_specs=P("data"), check_vma=False))


def _inpaint_chunk(images, masks, z0, noise, params, config, mesh, progress):
  """Search (+ tuning) + blend for one chunk, its batch axis sharded over the mesh (padded
  to fit). noise: `latent_noise`'s [b, K, z_dim] (K = `search.latent_samples`, may be 0).
  With `search.mirror`, z0 is [b, 2, R, z_dim] and noise [b, 2, K, z_dim] (the image's,
  the mirror image's)."""
  b, ndev = len(images), mesh.devices.size
  pad = (-b) % ndev
  if pad:  # repeat the last image; its copies are dropped below
    rep = lambda a: np.concatenate([a, np.repeat(a[-1:], pad, 0)])
    images, masks, z0, noise = rep(images), rep(masks), rep(z0), rep(noise)
  sharding = NamedSharding(mesh, P("data"))
  put = lambda a: jax.device_put(jnp.asarray(a, jnp.float32), sharding)
  cfg = config.search
  mirror = cfg.get("mirror", False)
  if mirror:  # the mirror images as b more problems of the same batch: [2b]
    images = np.concatenate([images, images[:, :, ::-1]])
    masks = np.concatenate([masks, masks[:, :, ::-1]])
    z0 = np.concatenate([z0[:, 0], z0[:, 1]])
    noise = np.concatenate([noise[:, 0], noise[:, 1]])
  y, m = put(images), put(masks)
  z0, noise = put(z0), put(noise)
  if cfg.get("start", "random") == "encoder":
    z0 = search_lib.encoder_start(params["encoder"], y, m, z0, _frozen(config.encoder),
                                  _frozen(config.model))
  res = search_lib.search(params["generator"], params["discriminator"], y, m, z0,
                          config.model, cfg, progress=progress)
  k = res.fill_z.shape[1]
  # The k fills of each image, flattened to [B * k] for tuning and blending.
  flat = lambda a: a.reshape((-1,) + a.shape[2:])
  per_fill = lambda a: jnp.repeat(a, k, axis=0)
  generated = flat(res.fill_generated)
  # Each fill: G's (or its tuned copy's) mean over its ẑ and K nearby z (latent_samples).
  if noise.shape[1] and not cfg.get("tune_steps", 0):
    generated = search_lib.latent_average(params["generator"], flat(res.fill_z),
                                          per_fill(noise), cfg.latent_noise,
                                          _frozen(config.model))
  if cfg.get("tune_steps", 0):
    # Keyed on the settings tuning reads (its numbers are arguments), so a search of another
    # length or restart count reuses the compiled tuning.
    generated = _sharded_tune(mesh, _frozen(config.model),
                              search_lib.compiled_settings(cfg, tune_lib.STATIC))(
        params["generator"], params["discriminator"], per_fill(y), per_fill(m), flat(res.fill_z),
        per_fill(noise), search_lib.traced_settings(cfg))
  shape = res.fill_generated.shape
  if mirror:  # fill j of an image: the mean of its own and its mirror image's fill j
    half = len(images) // 2
    fills = generated.reshape(shape)
    fills = 0.5 * (fills[:half] + fills[half:, :, :, ::-1])  # [B, k, S, S, 3]
    shape = fills.shape
    generated = flat(fills)
    y, m = y[:half], m[:half]
  if cfg.get("tune_steps", 0) or mirror or noise.shape[1]:
    res = res.replace(generated=generated.reshape(shape)[:, 0])
  if cfg.blend:
    # The Poisson solve can overshoot the pixel range where G(z) is far from the known
    # pixels' gradients: clipped, so `blended` is in [-1, 1] as promised (known pixels are
    # y's, which already are).
    out = jnp.clip(_blend_per_device(per_fill(y), generated, per_fill(m), cfg, mesh), -1.0, 1.0)
  else:
    out = jnp.where(per_fill(m)[..., None] > 0, per_fill(y), generated)
  fetched = jax.device_get({"fills": out.reshape(shape), "result": res})
  cut = lambda a: np.asarray(a)[:b]
  res = fetched["result"]
  return {"fills": cut(fetched["fills"]), "blended": cut(fetched["fills"])[:, 0],
          **{f.name: cut(getattr(res, f.name)) for f in dataclasses.fields(res)}}


def mirror_keys(keys: jax.Array) -> jax.Array:
  """The keys of the mirror images' starting points ([B] keys from `image_keys`): a stream
  of their own, so no mirror restart repeats one of the image's."""
  return jax.vmap(lambda key: jax.random.fold_in(key, _MIRROR_STREAM))(keys)


_MIRROR_STREAM = 0x6D697272  # 'mirr'


def latent_noise(keys: jax.Array, samples: int, z_dim: int) -> jax.Array:
  """The ε ~ N(0, I) of `search.latent_samples`, [B, K, z_dim], from one key per image
  ([B] keys, `image_keys` or `mirror_keys`): a stream of their own, apart from the starts."""
  one = lambda key: jax.random.normal(jax.random.fold_in(key, _LATENT_STREAM), (samples, z_dim))
  return jax.vmap(one)(keys)


_LATENT_STREAM = 0x6C617465  # 'late'


def _frozen(config: ml_collections.ConfigDict) -> ml_collections.FrozenConfigDict:
  return ml_collections.FrozenConfigDict(config)


def images_per_chunk(cfg: ml_collections.ConfigDict, num_images: int) -> int:
  """How many images `inpaint` searches per chunk: `cfg.batch_size` problems (all images
  where 0), each image two problems with `cfg.mirror`."""
  problems_per_image = 2 if cfg.get("mirror", False) else 1
  batch = int(cfg.get("batch_size", 0))
  return max(1, min(batch // problems_per_image if batch else num_images, num_images))


def progress_total(cfg: ml_collections.ConfigDict, num_images: int) -> int:
  """What the `progress` callbacks of one `inpaint` call on `num_images` add up to: the
  search iterations of every chunk."""
  chunks = -(-num_images // images_per_chunk(cfg, num_images))
  return chunks * int(cfg.iterations)


# The choices of the search's string settings (`configs.search.defaults` documents them).
CHOICES = {"start": ("random", "encoder"), "lr_schedule": ("constant", "cosine"),
           "context_loss": ("l1", "l2"), "prior_loss": ("log1m", "neglogd"),
           "weighting": ("eq3", "uniform"), "compute_dtype": layers.COMPUTE_DTYPES}


def with_compute_dtype(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with the search's precision as its model's (`search.compute_dtype` ->
  `model.compute_dtype`), so G, D and E run in the precision the run asks for, whatever
  the model was trained in; the caller's config is not changed."""
  wanted = config.search.get("compute_dtype", "float32")
  if config.model.get("compute_dtype", "float32") == wanted:
    return config
  config = ml_collections.ConfigDict(config).copy_and_resolve_references()  # a deep copy
  config.model.compute_dtype = wanted
  return config


def check_settings(params: dict[str, Any] | None, config: ml_collections.ConfigDict) -> None:
  """The one validation of a search block (`config.search`), which `inpaint` and every
  command call: ValueError naming the first setting that is out of range, or that cannot
  run with `params` (an encoder start without an encoder; params None skips that)."""
  cfg = config.search
  get = lambda name, default=None: cfg.get(name, default)
  for name, choices in CHOICES.items():
    if get(name, choices[0]) not in choices:
      raise ValueError(f"search.{name} must be {' or '.join(map(repr, choices))}, got "
                       f"{get(name)!r}")
  counts = {name: (1, "at least 1") for name in ("iterations", "restarts", "fills", "window",
                                                 "blend_maxiter")}
  counts.update({name: (0, "0 (off) or positive") for name in (
      "halving_every", "tune_steps", "stop_every", "curve_stride", "batch_size",
      "blend_mix_window", "blend_mix_thick", "latent_samples")})
  for name, (least, wording) in counts.items():
    value = get(name, least)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
      raise ValueError(f"search.{name} must be {wording}, got {value!r}")
  if get("window", 7) % 2 == 0:
    raise ValueError(f"search.window must be odd (a window centred on each pixel), got "
                     f"{get('window')}")
  for name in ("learning_rate", "prior_weight", "tune_learning_rate", "tune_feature_weight",
               "min_fill_difference", "latent_noise"):
    value = get(name, 0.0)
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
      raise ValueError(f"search.{name} must be a finite number >= 0, got {value!r}")
  for name in ("beta1", "beta2", "stop_tolerance"):
    value = get(name, 0.0)
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
      raise ValueError(f"search.{name} must be in [0, 1), got {value!r}")
  if cfg.blend_mix_window % 2 == 0 and cfg.blend_mix_window:
    raise ValueError(f"search.blend_mix_window must be 0 (off) or odd, got "
                     f"{cfg.blend_mix_window}")
  low, high = cfg.blend_mix_low, cfg.blend_mix_high
  if not (isinstance(low, (int, float)) and isinstance(high, (int, float))
          and 0.0 <= low < high <= 1.0):
    raise ValueError(f"search.blend_mix_low and blend_mix_high must satisfy 0 <= low < high "
                     f"<= 1, got {low!r} and {high!r}")
  if not get("blend_tol", 1e-6) > 0:
    raise ValueError(f"search.blend_tol must be positive, got {get('blend_tol')!r}")
  if get("steps_per_call", -1) < -1:
    raise ValueError(f"search.steps_per_call must be -1 (auto), 0 (one scan) or positive, got "
                     f"{get('steps_per_call')}")
  if not get("fills", 1) <= cfg.restarts:
    raise ValueError(f"search.fills must be between 1 and the number of restarts "
                     f"({cfg.restarts}), got {cfg.fills}")
  if get("halving_every", 0) and cfg.restarts < 2:
    raise ValueError("search.halving_every prunes restarts: it needs search.restarts 2 or more")
  if (params is not None and get("start", "random") == "encoder"
      and params.get("encoder") is None):
    raise ValueError("search.start='encoder' needs a latent encoder: params['encoder'] (the "
                     "CLI's --encoder, or a bundled model's own)")


def inpaint(images, masks, params: dict[str, Any], config: ml_collections.ConfigDict,
            seed: int = 0, ids: Sequence[int] | None = None,
            progress: Callable[[int], None] | None = None) -> InpaintResult:
  """Fills the holes of `images` (Yeh et al. 2017): latent search, then Poisson blending.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S] with 1 = known, 0 = missing.
  params: {'generator': g_vars, 'discriminator': d_vars}; config: a config with `model`
  and `search` blocks. ids: one non-negative int per image keying its starting points
  (default: `data.images.pixel_hashes`, a hash of its pixels). Batches larger than
  `config.search.batch_size` run in chunks; each chunk is sharded over the local devices.
  `progress(n)` is called after each compiled call of n search iterations of a chunk.
  Images whose mask has no hole come back unchanged. Beyond the paper (all off by
  default): `search.start='encoder'` starts restart 0 from params['encoder']'s z,
  `search.halving_every` prunes restarts, `search.tune_steps` tunes a copy of G per
  image, `search.fills = k` returns the k best distinct fills, `search.mirror` also fills
  each image's mirror image (its starting points from `mirror_keys`) and averages the two,
  `search.latent_samples = K` makes each fill G's mean over ẑ and K copies
  clip(ẑ + latent_noise·ε, -1, 1), ε from the image's key (`latent_noise`).
  """
  images, masks = validate(images, masks, config.model.image_size)
  check_settings(params, config)
  config = with_compute_dtype(config)
  ids = images_lib.pixel_hashes(images) if ids is None else np.asarray(ids, np.int64)
  if ids.shape != (len(images),) or (ids < 0).any():
    raise ValueError(f"ids must be {len(images)} non-negative ints, got {ids!r}")
  cfg = config.search
  keys = image_keys(seed, ids)
  z0 = np.asarray(search_lib.initial_z(keys, cfg.restarts, config.model.z_dim))
  step = images_per_chunk(cfg, len(images))
  if cfg.get("mirror", False):  # [B, 2, R, z_dim]: the image's and its mirror image's
    z0 = np.stack([z0, np.asarray(search_lib.initial_z(mirror_keys(keys), cfg.restarts,
                                                       config.model.z_dim))], axis=1)
  mesh = _local_mesh()
  noise = np.asarray(latent_noise(keys, cfg.latent_samples, config.model.z_dim))
  if cfg.get("mirror", False):
    noise = np.stack([noise, np.asarray(latent_noise(mirror_keys(keys), cfg.latent_samples,
                                                     config.model.z_dim))], axis=1)
  parts = [_inpaint_chunk(images[lo:lo + step], masks[lo:lo + step], z0[lo:lo + step],
                          noise[lo:lo + step], params, config, mesh, progress)
           for lo in range(0, len(images), step)]
  cat = lambda name: np.concatenate([p[name] for p in parts])
  losses = {"context": cat("context_loss"), "prior": cat("prior_loss"),
            "total": cat("total_loss"), "restarts": cat("restart_losses")}
  losses["fills"] = cat("fill_total")
  return InpaintResult(blended=cat("blended"), generated=cat("generated"), z=cat("z"),
                       losses=losses, curve=cat("curve"), ids=ids, fills=cat("fills"),
                       fill_count=cat("fill_count"), iterations=cat("iterations"))
