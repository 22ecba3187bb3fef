"""Throughput of the latent search, training and Poisson blending: the library of `run.py`.

Figures are image-iterations/s for the search (one iteration = G and D forward, the
gradient to z and an Adam step, for one image and one restart), steps/s and images/s
for training, images/s for blending. FLOPs come from XLA's cost analysis of one compiled
step, so `achieved / peak` is the fraction of the device's arithmetic actually used.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp
import jaxlib
import ml_collections
import numpy as np
from PIL import Image

import inpaint_jax
from inpaint_jax import backend
from inpaint_jax.configs import context_encoder as ce_config
from inpaint_jax.configs import default
from inpaint_jax.configs import tiny
from inpaint_jax.core import blend
from inpaint_jax.core import search as search_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.models import dcgan as models
from inpaint_jax.models import layers
from inpaint_jax.train import context_encoder as ce_train
from inpaint_jax.train import dcgan as dcgan_train
from inpaint_jax.train import loop

# Peak fp32 GFLOP/s, for the fraction-of-peak column. CPU: per core of the AVX-512
# development machine (about 330 GFLOP/s for its 2 cores), times the cores this process
# may run on. GPUs: fp32 without tensor cores.
CPU_PEAK_GFLOPS_PER_CORE = 165.0
PEAK_GFLOPS = {"NVIDIA H100 80GB HBM3": 67_000.0, "NVIDIA H200": 67_000.0}


def device_peak_gflops() -> float | None:
  dev = jax.devices()[0]
  if dev.platform == "cpu":
    return CPU_PEAK_GFLOPS_PER_CORE * len(os.sched_getaffinity(0))
  return PEAK_GFLOPS.get(dev.device_kind)


def model_config(ngf: int, kernel_size: int, conv_impl: str = "auto",
                 compute_dtype: str = "float32") -> ml_collections.ConfigDict:
  cfg = default.get_config().model
  cfg.ngf = cfg.ndf = ngf
  cfg.kernel_size = kernel_size
  cfg.conv_impl = conv_impl
  cfg.compute_dtype = compute_dtype
  return cfg


def label(conv_impl: str, compute_dtype: str) -> str:
  """The impl column: the form ('auto' shown with what it resolved to) and the precision."""
  resolved = layers.compute_policy(model_config(64, 4, conv_impl))[0]
  form = f"auto={resolved}" if conv_impl == "auto" else conv_impl
  return form if compute_dtype == "float32" else f"{form} {compute_dtype}"


@dataclasses.dataclass
class Row:
  what: str
  ngf: int
  kernel: int
  batch: int
  impl: str
  per_s: float  # image-iterations/s (search), steps/s (train), images/s (blend)
  unit: str
  gflop_per_item: float | None = None
  fraction_of_peak: float | None = None
  peak_memory_mb: float | None = None
  note: str = ""


def _timeit(fn: Callable[[], object], repeats: int) -> float:
  """Best wall time of `repeats` calls after one warm-up call (which also compiles)."""
  jax.block_until_ready(fn())
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return best


def _flops(compiled) -> float | None:
  try:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
      analysis = analysis[0]
    return float(analysis["flops"])
  except Exception:  # pylint: disable=broad-except
    return None


def peak_memory_mb() -> float:
  dev = jax.devices()[0]
  stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _search_step_flops(cfg, g_vars, d_vars, batch: int) -> float | None:
  """FLOPs of one search iteration for `batch` images (one restart each)."""
  search_cfg = default.get_config().search
  g, d = models.build_models(cfg)
  total = lambda z, y, w: search_lib.final_losses(g_vars, d_vars, y, w, z, generator=g,
                                                  discriminator=d, cfg=search_cfg)[3]

  def step(z, images, weights):
    grad = jax.vmap(jax.grad(total))(z, images, weights)
    return jnp.clip(z - 0.01 * grad, -1, 1)

  args = (jnp.zeros((batch, cfg.z_dim)), jnp.zeros((batch, 64, 64, 3)), jnp.zeros((batch, 64, 64)))
  return _flops(jax.jit(step).lower(*args).compile())


def bench_search(ngf: int, kernel: int, batch: int, iterations: int = 5, repeats: int = 2,
                 conv_impl: str = "auto", compute_dtype: str = "float32") -> Row:
  """Latent search throughput: `batch` images x 1 restart, `iterations` per call."""
  cfg = model_config(ngf, kernel, conv_impl, compute_dtype)
  g_vars, d_vars = models.init_variables(cfg, jax.random.PRNGKey(0))
  search_cfg = default.get_config().search
  search_cfg.iterations = iterations
  images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, 64, 64, 3)), jnp.float32)
  m = jnp.asarray(masks_lib.make_masks("center", 64, 0, range(batch)))
  z0 = search_lib.initial_z(jax.random.split(jax.random.PRNGKey(0), batch), 1, cfg.z_dim)
  spread = loop.data_parallel_sharding(batch)  # data-parallel where there are several devices
  if spread:
    images, m, z0 = jax.device_put((images, m, z0), spread.batch)
  run = lambda: search_lib.search(g_vars, d_vars, images, m, z0, cfg, search_cfg).z
  seconds = _timeit(run, repeats)
  per_s = batch * iterations / seconds
  flops = _search_step_flops(cfg, g_vars, d_vars, batch)
  gflop = flops / batch / 1e9 if flops else None
  peak = device_peak_gflops()
  frac = per_s * gflop / peak if (gflop and peak) else None
  return Row("search", ngf, kernel, batch, label(conv_impl, compute_dtype), per_s,
             "image-iter/s", gflop, frac, peak_memory_mb())


def bench_train(ngf: int, kernel: int, batch: int = 64, steps: int = 3, conv_impl: str = "auto",
                compute_dtype: str = "float32") -> Row:
  """Training throughput: steps/s of the jitted D-then-G step (note gives images/s)."""
  config = default.get_config()
  config.model = model_config(ngf, kernel, conv_impl, compute_dtype)
  config.batch_size = batch
  state = dcgan_train.create_train_state(config, jax.random.PRNGKey(0))
  step = jax.jit(dcgan_train.make_train_step(config))  # no donation: `state` is reused
  images = {"image": jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, 64, 64, 3)),
                                 jnp.float32)}
  rng = jax.random.PRNGKey(0)
  spread = loop.data_parallel_sharding(batch)
  if spread:
    state, images = jax.device_put(state, spread.replicated), jax.device_put(images, spread.batch)

  def run():
    s = state
    for _ in range(steps):
      s, _ = step(s, images, rng)
    return s.step

  seconds = _timeit(run, 1)
  per_s = steps / seconds
  flops = _flops(step.lower(state, images, rng).compile())
  gflop = flops / 1e9 if flops else None
  peak = device_peak_gflops()
  frac = per_s * gflop / peak if (gflop and peak) else None
  return Row("train", ngf, kernel, batch, label(conv_impl, compute_dtype), per_s, "steps/s", gflop,
             frac, peak_memory_mb(), note=f"{per_s * batch:.1f} images/s")


def bench_forward(net: str, ngf: int, kernel: int, batch: int, conv_impl: str = "auto",
                  compute_dtype: str = "float32", repeats: int = 3) -> Row:
  """Images/s of G's or D's forward pass alone (running batch statistics), `net` 'G' | 'D'."""
  cfg = model_config(ngf, kernel, conv_impl, compute_dtype)
  g, d = models.build_models(cfg)
  g_vars, d_vars = models.init_variables(cfg, jax.random.PRNGKey(0))
  if net == "G":
    fn, arg = jax.jit(lambda z: g.apply(g_vars, z)), jnp.zeros((batch, cfg.z_dim))
  else:
    fn, arg = jax.jit(lambda x: d.apply(d_vars, x)), jnp.zeros((batch, 64, 64, 3))
  seconds = _timeit(lambda: fn(arg), repeats)
  flops = _flops(fn.lower(arg).compile())
  gflop = flops / batch / 1e9 if flops else None
  peak = device_peak_gflops()
  per_s = batch / seconds
  frac = per_s * gflop / peak if (gflop and peak) else None
  return Row(f"{net} forward", ngf, kernel, batch, label(conv_impl, compute_dtype), per_s,
             "images/s", gflop, frac)


LOOP_MODELS = ("dcgan", "context encoder")


def _tiny_task(model: str, **overrides) -> tuple[ml_collections.ConfigDict, object]:
  """(config, Task) of a tiny 32x32 model: the DCGAN, or the CE on pattern masks (the
  dearest type to draw, drawn in its step); `overrides` update the config first."""
  if model == "dcgan":
    config = tiny.get_config()
    config.update(overrides)
    return config, dcgan_train.task(config)
  if model == "context encoder":
    config = ce_config.get_config("celeb_a,pattern")
    config.model.update(nf=8, ndf=8, image_size=32)
    config.update(overrides)
    return config, ce_train.task(config)
  raise ValueError(f"unknown model {model!r}; choose one of {LOOP_MODELS}")


def bench_loop_overhead(steps: int = 400, num_images: int = 64, repeats: int = 3,
                        model: str = "dcgan") -> Row:
  """The training loop's own cost: steps/s of `train.loop.train` (a tiny `model`, where
  overhead dominates; logging every steps/8 steps, no mid-run checkpoints or samples) over
  steps/s of the bare jitted step called back to back on one device-resident batch.

  Both are timed `repeats` times, interleaved, best of each; the loop's rate is read
  between its first and last log, so compilation and the final save are left out.
  """
  config, task = _tiny_task(model, num_steps=steps, log_every=max(1, steps // 8),
                            progress_bar=False, sample_every=10 * steps,
                            checkpoint_every=10 * steps, batch_size=8)
  images = np.random.default_rng(0).integers(0, 256, (num_images, 32, 32, 3), np.uint8)
  source = sources.ArraySource(images, [str(i) for i in range(num_images)])
  bare_step = jax.jit(task.train_step, donate_argnums=0)
  batch = jax.device_put(task.make_batch(0, sources.training_batch(source, config.batch_size,
                                                                   0, 0)))
  rng = loop.step_rng(0, 0)

  def bare() -> float:
    state = task.init_state(source)
    state, _ = bare_step(state, batch, rng)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(steps):
      state, _ = bare_step(state, batch, rng)
    jax.block_until_ready(state)
    return steps / (time.perf_counter() - start)

  def real() -> float:
    logged = []
    writer_scalars = loop.MetricWriter.scalars
    loop.MetricWriter.scalars = lambda self, step, values: logged.append((step, time.perf_counter()))
    try:
      with tempfile.TemporaryDirectory() as workdir:
        loop.train(task, config, workdir, source)
    finally:
      loop.MetricWriter.scalars = writer_scalars
    (first, t0), (last, t1) = logged[0], logged[-2]
    return (last - first) / (t1 - t0)

  bare_rate = real_rate = 0.0
  for _ in range(repeats):
    bare_rate, real_rate = max(bare_rate, bare()), max(real_rate, real())
  return Row("train loop", 8, 4, config.batch_size, f"{model} tiny 32px", real_rate, "steps/s",
             note=f"bare jitted step {bare_rate:.0f} steps/s; loop / bare = {real_rate / bare_rate:.2f}")


def bench_input(kind: str, num_images: int = 2000, batch: int = 64, steps: int = 100) -> Row:
  """Images/s that `training_batches` delivers to the device (crop, resize, flip, float
  conversion and copy included) from one kind of source of 64x64 images:
  'folder' (decoded into memory), 'folder lazy' (decoded per batch), 'tfds lazy' and
  'tfds cached' (TFDS mock celeb_a examples, 218x178, decoded per batch / from the cache).
  """
  with tempfile.TemporaryDirectory() as tmp:
    if kind.startswith("folder"):
      rng = np.random.default_rng(0)
      for i in range(num_images):
        pixels = rng.integers(0, 256, (109, 89, 3), np.uint8)
        Image.fromarray(pixels).save(os.path.join(tmp, f"{i:06d}.jpg"), quality=90)
      source = sources.FolderSource(tmp, "all", sources.CropRule("center", 108 / 178, 64),
                                    in_memory=kind == "folder")
      seconds = _time_batches(source, batch, steps)
    else:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      with tfds.testing.mock_data(num_examples=num_images):
        source = sources.TfdsSource("celeb_a", "train", sources.CropRule("center", 108 / 178, 64),
                                    download=False, in_memory=kind == "tfds cached",
                                    cache_dir=tmp)
        seconds = _time_batches(source, batch, steps)
  return Row("input", 0, 0, batch, kind, batch * steps / seconds, "images/s")


def _time_batches(source, batch: int, steps: int) -> float:
  start = time.perf_counter()
  for _, images in sources.training_batches(source, batch, 0, 0, steps,
                                            transform=lambda step, x: jax.device_put(x)):
    pass
  jax.block_until_ready(images)
  return time.perf_counter() - start


def blend_inputs(batch: int, size: int = 64, seed: int = 0):
  rng = np.random.default_rng(seed)
  y = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
  g = np.clip(y + rng.normal(0, 0.3, y.shape), -1, 1).astype(np.float32)
  m = masks_lib.make_masks("center", size, seed, range(batch))
  return y, g, m


def bench_blend(batch: int = 64, repeats: int = 3, tol: float = 1e-6) -> Row:
  y, g, m = (jnp.asarray(a) for a in blend_inputs(batch))
  seconds = _timeit(lambda: blend.poisson_blend(y, g, m, tol), repeats)
  return Row("blend", 0, 0, batch, f"jax cg tol={tol:g}", batch / seconds, "images/s",
             peak_memory_mb=peak_memory_mb())


def scipy_blend(y: np.ndarray, g: np.ndarray, m: np.ndarray) -> np.ndarray:
  """The reference: Eq. 4 assembled as a sparse matrix and solved by spsolve per image and channel."""
  import scipy.sparse  # pylint: disable=g-import-not-at-top
  import scipy.sparse.linalg  # pylint: disable=g-import-not-at-top
  out = y.astype(np.float64).copy()
  lap = lambda a: np.asarray(blend.neumann_laplacian(jnp.asarray(a, jnp.float32)), np.float64)
  for b in range(len(y)):
    h, w = m[b].shape
    hole = m[b] == 0
    idx = -np.ones((h, w), int)
    idx[hole] = np.arange(hole.sum())
    rows, cols, vals = [], [], []
    for i, j in np.argwhere(hole):
      nbrs = [(i + a, j + c) for a, c in ((-1, 0), (1, 0), (0, -1), (0, 1)) if 0 <= i + a < h and 0 <= j + c < w]
      rows.append(idx[i, j]); cols.append(idx[i, j]); vals.append(len(nbrs))
      for a, c in nbrs:
        if hole[a, c]:
          rows.append(idx[i, j]); cols.append(idx[a, c]); vals.append(-1.0)
    mat = scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(hole.sum(),) * 2)
    for ch in range(y.shape[-1]):
      rhs = lap(g[b, ..., ch]) - lap(m[b] * y[b, ..., ch])
      out[b, ..., ch][hole] = scipy.sparse.linalg.spsolve(mat, rhs[hole])
  return out


def bench_scipy_blend(batch: int = 64) -> tuple[Row, float]:
  """spsolve loop throughput, and the max difference of the JAX blend from it."""
  y, g, m = blend_inputs(batch)
  start = time.perf_counter()
  ref = scipy_blend(y, g, m)
  seconds = time.perf_counter() - start
  ours = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m)))
  err = float(np.abs(ours - ref).max())
  return Row("blend", 0, 0, batch, "scipy spsolve loop", batch / seconds, "images/s"), err


def format_table(rows: list[Row]) -> str:
  head = "| what | impl | ngf | k | batch | throughput | GFLOP/item | % of peak | peak MB | note |"
  lines = [head, "|" + "---|" * 10]
  for r in rows:
    lines.append(
        f"| {r.what} | {r.impl} | {r.ngf or ''} | {r.kernel or ''} | {r.batch} | "
        f"{r.per_s:.3g} {r.unit} | {'' if r.gflop_per_item is None else f'{r.gflop_per_item:.3f}'} | "
        f"{'' if r.fraction_of_peak is None else f'{100 * r.fraction_of_peak:.1f}'} | "
        f"{'' if r.peak_memory_mb is None else f'{r.peak_memory_mb:.0f}'} | {r.note} |")
  return "\n".join(lines)


def environment() -> dict:
  dev = jax.devices()[0]
  torch_version = None
  try:
    import torch  # pylint: disable=g-import-not-at-top
    torch_version = torch.__version__
  except ImportError:
    pass
  return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "torch": torch_version,
          "platform": dev.platform, "device_kind": dev.device_kind,
          "device_count": jax.device_count(), "cpu_count": os.cpu_count(),
          "cpu_affinity": len(os.sched_getaffinity(0)), "cpu_model": backend.cpu_model(),
          "cpu_features": backend.cpu_features(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "conv_impl_env": os.environ.get(backend.CONV_IMPL_ENV, ""),
          "date": time.strftime("%Y-%m-%d %H:%M")}


def bench_preset(preset: str, num_images: int = 64, iterations_cap: int = 150,
                 compute_dtype: str = "float32", repeats: int = 2) -> Row:
  """Seconds per image of `core.inpaint.inpaint` with a preset and the shipped face model
  (the bundled test faces tiled to `num_images`, centre masks, batch 64, compile excluded).
  A search longer than `iterations_cap` is timed at the cap and at twice it, and the rest
  extrapolated linearly (the paper's 1,500 iterations: 10x150), which the note says."""
  from inpaint_jax import model_files  # pylint: disable=g-import-not-at-top
  from inpaint_jax.configs import presets as presets_lib  # pylint: disable=g-import-not-at-top
  from inpaint_jax.configs import search as search_config  # pylint: disable=g-import-not-at-top
  from inpaint_jax.core import inpaint as inpaint_lib  # pylint: disable=g-import-not-at-top
  from inpaint_jax.data import images as images_lib  # pylint: disable=g-import-not-at-top
  folder = os.path.join(inpaint_jax.ASSETS, "faces")
  pics = [np.asarray(Image.open(os.path.join(folder, f)).convert("RGB").resize((64, 64)))
          for f in sorted(os.listdir(folder))]
  images = images_lib.to_float(np.stack([pics[i % len(pics)] for i in range(num_images)]))
  masks = masks_lib.make_masks("center", 64, 0, range(num_images))
  search = search_config.settings(preset, {"compute_dtype": compute_dtype})
  full = search.iterations
  config, params = model_files.load_params(presets_lib.bundled_model_path("celeba"), search)

  def seconds(iterations: int) -> float:
    config.search.iterations = iterations
    return _timeit(lambda: inpaint_lib.inpaint(images, masks, params, config).blended, repeats)

  if full <= iterations_cap:
    per_image, note = seconds(full) / num_images, ""
  else:
    a, b = seconds(iterations_cap), seconds(2 * iterations_cap)
    per_image = (a + (b - a) * (full - iterations_cap) / iterations_cap) / num_images
    note = f"{full} iterations extrapolated from {iterations_cap} and {2 * iterations_cap}"
  return Row("preset", 32, 4, num_images, f"{preset} {compute_dtype}", per_image, "s/image",
             note=note)


# Issue 42's targets: (what, against, at least) for ngf 64, batch 64, this run's choice.
TARGETS = (("search", "pytorch eager float32", 1.5), ("train", "pytorch eager float32", 1.0))
PRESET_TARGETS = (("paper", 1.0), ("default", 0.05))  # s/image at most


def format_targets(rows: list[Row], auto: str) -> str:
  """The targets as ratios of this run's rows (ngf 64, batch 64, kernel 4 and 5): ours with
  the automatic choice (float32; bfloat16 against PyTorch's autocast where measured)."""
  from inpaint_jax.configs import search as search_config  # pylint: disable=g-import-not-at-top
  lines = ["| target | kernel | ours | PyTorch | ratio | goal | met |", "|---|---|---|---|---|---|---|"]
  find = lambda what, impl, k: next((r for r in rows if (r.what, r.impl, r.ngf, r.kernel) ==
                                     (what, impl, 64, k) and r.batch == 64), None)
  for what, against, goal in TARGETS:
    for k in (4, 5):
      for mine, theirs, want in ((auto, against, goal),
                                 (f"{auto} bfloat16", "pytorch eager bfloat16", 1.0)):
        a, b = find(what, mine, k), find(what, theirs, k)
        if a and b:
          ratio = a.per_s / b.per_s
          lines.append(f"| {what} {mine} vs {theirs} | {k} | {a.per_s:.1f} | {b.per_s:.1f} | "
                       f"{ratio:.2f} | >= {want} | {'yes' if ratio >= want else 'no'} |")
  for preset, most in PRESET_TARGETS:
    name = search_config.DEFAULT_PRESET if preset == "default" else preset
    r = next((r for r in rows if r.what == "preset" and r.impl == f"{name} float32"), None)
    if r:
      lines.append(f"| {preset} preset ({name}) s/image | 4 | {r.per_s:.3f} | | | <= {most} | "
                   f"{'yes' if r.per_s <= most else 'no'} |")
  return "\n".join(lines)
