"""Speed of the latent search, training and blending (optionally against a PyTorch peer),
the presets' seconds per image, the training loop's overhead over its bare step, and the
images/s each input source delivers; then the issue-42 targets as ratios from this run.

  python benchmarks/run.py                       # full grid (minutes on a GPU)
  python benchmarks/run.py --batches=64 --ngfs=64 --out results/benchmark_cpu.json

It starts as every command does (`commands.choose_backend`, one device: the XLA options
and convolution form this machine measured fastest; `--impls=auto` is that form), so it
measures what a user's command runs. Prints a Markdown table and writes JSON. Runs
unchanged on CPU and GPU. PyTorch figures need `pip install -e '.[bench]'` and use the
same thread count as XLA, in float32 and under bfloat16 autocast.
"""

import dataclasses
import importlib.util
import json
import os

from absl import app
from absl import flags

import lib as benchmark  # benchmarks/lib.py, beside this file
from inpaint_jax import commands
from inpaint_jax.configs import search as search_config
from inpaint_jax.data import images as image_io

_BATCHES = flags.DEFINE_list("batches", ["64", "256", "1024"], "Search batch x restarts sizes.")
_KERNELS = flags.DEFINE_list("kernels", ["4", "5"], "Kernel sizes.")
_NGFS = flags.DEFINE_list("ngfs", ["32", "64"], "ngf = ndf values.")
_IMPLS = flags.DEFINE_list("impls", ["auto", "subpixel", "matmul", "xla"],
                           "Stride-2 conv forms (models.layers.CONV_IMPLS; auto: this machine's).")
_DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "Compute dtypes (model.compute_dtype).")
_PRESETS = flags.DEFINE_list("presets", ["paper", search_config.DEFAULT_PRESET],
                             "Presets timed in s/image with the shipped face model ('' : none).")
_PRESET_IMAGES = flags.DEFINE_integer("preset_images", 64, "Images per preset timing (one batch).")
_ITERS = flags.DEFINE_integer("iterations", 5, "Search iterations per timed call.")
_TRAIN_BATCH = flags.DEFINE_integer("train_batch", 64, "Training batch size (0: skip).")
_BLEND_BATCH = flags.DEFINE_integer("blend_batch", 64, "Blend batch size (0: skip).")
_SCIPY = flags.DEFINE_bool("scipy", True, "Time the scipy spsolve loop beside the blend.")
_TORCH = flags.DEFINE_bool("torch", True, "Time the PyTorch peer (if installed).")
_XLA_MAX_BATCH = flags.DEFINE_integer("xla_max_batch", 64, "Largest batch timed for the 'xla' impl.")
_LOOP = flags.DEFINE_bool("loop_overhead", True, "Time the training loop against its bare step.")
_INPUTS = flags.DEFINE_list("inputs", ["folder", "folder lazy", "tfds lazy", "tfds cached"],
                            "Sources whose delivered images/s are timed (TFDS via mock data).")
_OUT = flags.DEFINE_string("out", "results/benchmark.json", "JSON output.")


def main(argv):
  del argv
  rows = []
  use_torch = _TORCH.value and importlib.util.find_spec("torch") is not None
  if use_torch:
    import torch_peer  # pylint: disable=g-import-not-at-top
  threads = len(os.sched_getaffinity(0))
  env = benchmark.environment()
  print(f"device: {env['device_kind']} ({env['platform']}), {threads} threads, jax {env['jax']}",
        flush=True)

  def add(row):
    rows.append(row)
    print(benchmark.format_table([row]).splitlines()[-1], flush=True)

  dtypes = _DTYPES.value
  auto = benchmark.label("auto", "float32")  # the form the user's commands run

  def peer(what, ngf, k, batch, fn, unit):
    """PyTorch's rows (float32, bfloat16 autocast) with ours / theirs for the same precision."""
    for dtype in dtypes:
      per_s = fn(bf16=dtype == "bfloat16")
      mine = [r for r in rows if (r.what, r.ngf, r.kernel, r.batch) == (what, ngf, k, batch)
              and r.impl == benchmark.label("auto", dtype)]
      note = f"auto / pytorch = {mine[0].per_s / per_s:.2f}" if mine else ""
      add(benchmark.Row(what, ngf, k, batch, f"pytorch eager {dtype}", per_s, unit, note=note))

  for ngf in map(int, _NGFS.value):
    for k in map(int, _KERNELS.value):
      for batch in map(int, _BATCHES.value):
        for dtype in dtypes:
          for impl in _IMPLS.value:
            if impl == "xla" and batch > _XLA_MAX_BATCH.value:
              continue
            add(benchmark.bench_search(ngf, k, batch, _ITERS.value, conv_impl=impl,
                                       compute_dtype=dtype))
        if use_torch and batch <= _XLA_MAX_BATCH.value:
          peer("search", ngf, k, batch, lambda bf16: torch_peer.bench_search(
              ngf, k, batch, _ITERS.value, threads, bf16=bf16), "image-iter/s")
      if _TRAIN_BATCH.value:
        for dtype in dtypes:
          for impl in _IMPLS.value:
            add(benchmark.bench_train(ngf, k, _TRAIN_BATCH.value, conv_impl=impl,
                                      compute_dtype=dtype))
        if use_torch:
          peer("train", ngf, k, _TRAIN_BATCH.value, lambda bf16: torch_peer.bench_train(
              ngf, k, _TRAIN_BATCH.value, 2, threads, bf16=bf16), "steps/s")
  for preset in filter(None, _PRESETS.value):
    add(benchmark.bench_preset(preset, _PRESET_IMAGES.value))
  if _LOOP.value:
    for model in benchmark.LOOP_MODELS:
      add(benchmark.bench_loop_overhead(model=model))
  for kind in _INPUTS.value:
    if kind.startswith("tfds") and importlib.util.find_spec("tensorflow_datasets") is None:
      continue
    add(benchmark.bench_input(kind, steps=30 if "lazy" in kind else 300))
  if _BLEND_BATCH.value:
    blend_row = benchmark.bench_blend(_BLEND_BATCH.value)
    add(blend_row)
    if _SCIPY.value:
      scipy_row, err = benchmark.bench_scipy_blend(_BLEND_BATCH.value)
      scipy_row.note = (f"ours / scipy = {blend_row.per_s / scipy_row.per_s:.1f}, "
                        f"max |ours - scipy| = {err:.1e}")
      add(scipy_row)

  print()
  print(benchmark.format_table(rows))
  print()
  print(benchmark.format_targets(rows, auto))
  image_io.atomic_write_bytes(_OUT.value, json.dumps(
      {"environment": env, "threads": threads, "rows": [dataclasses.asdict(r) for r in rows]},
      indent=2).encode())
  print(f"\nwrote {_OUT.value}")


if __name__ == "__main__":
  commands.choose_backend(devices_per_core=False)  # before JAX starts, as every command
  app.run(main)
