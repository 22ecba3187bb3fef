"""Speed of the latent search, training and blending (optionally against a PyTorch peer),
the training loop's overhead over its bare step, and the images/s each input source delivers.

  python benchmarks/run.py                       # full grid (minutes on a GPU)
  python benchmarks/run.py --batches=64 --ngfs=64 --out results/benchmark_cpu.json

Prints a Markdown table and writes JSON. Runs unchanged on CPU and GPU. PyTorch figures
need `pip install -e '.[bench]'` and use the same thread count as XLA.
"""

import dataclasses
import importlib.util
import json
import os

from absl import app
from absl import flags

import lib as benchmark  # benchmarks/lib.py, beside this file
from inpaint_jax.data import images as image_io

_BATCHES = flags.DEFINE_list("batches", ["64", "256", "1024"], "Search batch x restarts sizes.")
_KERNELS = flags.DEFINE_list("kernels", ["4", "5"], "Kernel sizes.")
_NGFS = flags.DEFINE_list("ngfs", ["32", "64"], "ngf = ndf values.")
_IMPLS = flags.DEFINE_list("impls", ["subpixel", "xla"], "Stride-2 conv implementations.")
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

  for ngf in map(int, _NGFS.value):
    for k in map(int, _KERNELS.value):
      for batch in map(int, _BATCHES.value):
        for impl in _IMPLS.value:
          if impl == "xla" and batch > _XLA_MAX_BATCH.value:
            continue
          row = benchmark.bench_search(ngf, k, batch, _ITERS.value, conv_impl=impl)
          add(row)
        if use_torch and batch <= _XLA_MAX_BATCH.value:
          per_s = torch_peer.bench_search(ngf, k, batch, _ITERS.value, threads)
          ours = max(r.per_s for r in rows if (r.what, r.ngf, r.kernel, r.batch) == ("search", ngf, k, batch))
          add(benchmark.Row("search", ngf, k, batch, "pytorch eager", per_s, "image-iter/s",
                            note=f"ours / pytorch = {ours / per_s:.2f}"))
      if _TRAIN_BATCH.value:
        for impl in _IMPLS.value:
          add(benchmark.bench_train(ngf, k, _TRAIN_BATCH.value, conv_impl=impl))
        if use_torch:
          per_s = torch_peer.bench_train(ngf, k, _TRAIN_BATCH.value, 2, threads)
          ours = max(r.per_s for r in rows if (r.what, r.ngf, r.kernel) == ("train", ngf, k))
          add(benchmark.Row("train", ngf, k, _TRAIN_BATCH.value, "pytorch eager", per_s, "steps/s",
                            note=f"ours / pytorch = {ours / per_s:.2f}"))
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
  image_io.atomic_write_bytes(_OUT.value, json.dumps(
      {"environment": env, "threads": threads, "rows": [dataclasses.asdict(r) for r in rows]},
      indent=2).encode())
  print(f"\nwrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
