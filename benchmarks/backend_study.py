"""The CPU backend study of issue 42: every documented XLA:CPU option that changes the
convolution or dot path, each stride-2 convolution form and both compute precisions, timed
on the machine at hand beside PyTorch eager (float32 and bfloat16 autocast).

  python benchmarks/backend_study.py --out results/backend_study   # ~35 min on 2 cores

Stage 1 (screen): each option set of OPTION_SETS in its own process (XLA reads its flags
once), forms subpixel and matmul x both precisions, ngf 64, kernel 4, batch 64: one search
iteration and one training step. Stage 2 (grid): the fastest option set of stage 1, forms
subpixel and matmul (xla in float32 at batch 64), both precisions, at the (ngf, kernel,
batch) of `_grid`: G forward, D forward, the search iteration (G and D forward and their
gradient to z) and, at ngf 64 and batch 64, the training step; PyTorch beside each. Every
row records the CPU model, its ISA features, jax / jaxlib / torch versions and the date.
Writes <out>/<cpu>.json (resumable by stage and option set) and <out>/<cpu>.md. Nothing
here is a test: figures are only compared within one run.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys

from absl import app
from absl import flags

import lib as benchmark  # benchmarks/lib.py, beside this file
from inpaint_jax import backend
from inpaint_jax.data import images as image_io

# Each documented XLA:CPU option of jaxlib 0.10.2 that selects a convolution or dot path
# (read from `XLA_FLAGS=--help`; the fusion types' accepted values from the flag parser:
# dot, eltwise, reduce, individual_dot, individual_convolution), and the vector width.
OPTION_SETS = {
    "default": "",
    "xnn greedy graph": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "xnn greedy+slinky": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY_SLINKY",
    "xnn individual conv": "--xla_cpu_experimental_xnn_fusion_type=individual_convolution,individual_dot",
    "onednn individual conv": "--xla_cpu_experimental_onednn_fusion_type=individual_convolution,individual_dot",
    "ynn individual conv": "--xla_cpu_experimental_ynn_fusion_type=individual_convolution,individual_dot",
    "onednn thunks": "--xla_cpu_use_onednn=true",
    "no xnnpack": "--xla_cpu_use_xnnpack=false",
    "vector width 512": "--xla_cpu_prefer_vector_width=512",
}

_OUT = flags.DEFINE_string("out", "results/backend_study", "Output folder.")
_STAGE = flags.DEFINE_enum("stage", "all", ["all", "screen", "grid"], "What to run.")
_CHILD = flags.DEFINE_string("child", "", "Internal: run one stage's rows in this process.")
_TORCH = flags.DEFINE_bool("torch", True, "Time the PyTorch peer beside.")
_SMOKE = flags.DEFINE_bool("smoke", False, "A tiny grid (ngf 8, batch 8) to test the script.")


def _grid() -> list[tuple[int, int, int]]:
  """(ngf, kernel, batch) of stage 2: the shipped width (32, kernel 4) and the paper's (64,
  kernels 4 and 5) at batch 64, and batch 256 at 64 / 4 (compiling dominates a 2-core run,
  ~10 s a program, so not the full product)."""
  if _SMOKE.value:
    return [(8, 4, 8)]
  return [(32, 4, 64), (64, 4, 64), (64, 5, 64), (64, 4, 256)]


def _child(stage: str, options: str) -> list[dict]:
  """This process's rows (run with the option set in XLA_FLAGS)."""
  rows = []
  add = lambda row: rows.append({**dataclasses.asdict(row), "options": options})
  if stage == "screen":  # the forms that can win (xla's gradients: grid rows below)
    ngf, batch = (8, 8) if _SMOKE.value else (64, 64)
    for dtype in ("float32", "bfloat16"):
      for impl in ("subpixel", "matmul"):
        add(benchmark.bench_search(ngf, 4, batch, 5, conv_impl=impl, compute_dtype=dtype))
        add(benchmark.bench_train(ngf, 4, batch, conv_impl=impl, compute_dtype=dtype))
    return rows
  for ngf, k, batch in _grid():
    for dtype in ("float32", "bfloat16"):
      for impl in ("subpixel", "matmul", "xla"):
        if impl == "xla" and (batch > 64 or dtype != "float32"):
          continue
        for net in ("G", "D"):
          add(benchmark.bench_forward(net, ngf, k, batch, impl, dtype))
        add(benchmark.bench_search(ngf, k, batch, 5, conv_impl=impl, compute_dtype=dtype))
        if batch == 64 and ngf == 64:
          add(benchmark.bench_train(ngf, k, batch, conv_impl=impl, compute_dtype=dtype))
  return rows


def _torch_rows() -> list[dict]:
  import torch_peer  # pylint: disable=g-import-not-at-top
  threads = len(os.sched_getaffinity(0))
  rows = []
  for ngf, k, batch in _grid():
    for bf16 in (False, True):
      name = f"pytorch eager {'bfloat16' if bf16 else 'float32'}"
      per_s = torch_peer.bench_search(ngf, k, batch, 5, threads, bf16=bf16)
      rows.append(dataclasses.asdict(benchmark.Row("search", ngf, k, batch, name, per_s,
                                                   "image-iter/s")) | {"options": "torch"})
      if batch == 64 and (ngf == 64 or _SMOKE.value):
        per_s = torch_peer.bench_train(ngf, k, batch, 2, threads, bf16=bf16)
        rows.append(dataclasses.asdict(benchmark.Row("train", ngf, k, batch, name, per_s,
                                                     "steps/s")) | {"options": "torch"})
  return rows


def _run_child(stage: str, name: str) -> list[dict]:
  env = dict(os.environ, XLA_FLAGS=OPTION_SETS[name], **{backend.OFF_ENV: "off"})
  env.pop(backend.CONV_IMPL_ENV, None)
  cmd = [sys.executable, __file__, f"--child={stage}:{name}"] + (["--smoke"] if _SMOKE.value else [])
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("ROWS ")]
  if proc.returncode or not lines:
    print(f"  {name}: failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}", flush=True)
    return [{"what": stage, "options": name, "error": proc.stderr[-400:]}]
  rows = json.loads(lines[-1][5:])
  for r in rows:
    r["options"] = name
  return rows


def _best(rows: list[dict], what: str, options: str, **key) -> dict | None:
  cands = [r for r in rows if r.get("what") == what and r.get("options") == options
           and all(r.get(k) == v for k, v in key.items())]
  return max(cands, key=lambda r: r["per_s"], default=None)


def _markdown(env: dict, rows: list[dict], best: str) -> str:
  out = [f"# Backend study on {env['cpu_model']}",
         "",
         f"{env['date']}; {env['cpu_affinity']} threads; ISA {', '.join(env['cpu_features'])}; "
         f"jax {env['jax']}, jaxlib {env['jaxlib']}, torch {env['torch']}. Stage 1 (screen): "
         f"ngf 64, kernel 4, batch 64. Stage 2 (grid): the option set `{best}`.",
         "", "## Stage 1: every option set", "",
         "| options | form | search image-iter/s | train steps/s |", "|---|---|---|---|"]
  screen = [r for r in rows if r.get("stage") == "screen" and "per_s" in r]
  for name in OPTION_SETS:
    for impl in sorted({r["impl"] for r in screen if r["options"] == name}):  # noqa
      s = _best(screen, "search", name, impl=impl)
      t = _best(screen, "train", name, impl=impl)
      train = "" if t is None else f"{t['per_s']:.2f}"
      out.append(f"| {name} | {impl} | {s['per_s']:.1f} | {train} |")
  grid = [r for r in rows if r.get("stage") == "grid" and "per_s" in r]
  out += ["", "## Against PyTorch eager (stage 2; ours: the fastest form of that precision)", "",
          "| what | ngf | k | batch | ours f32 (form) | torch f32 | ratio | ours bf16 (form) | "
          "torch bf16 autocast | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
  for what in ("search", "train"):
    for key in sorted({(r["ngf"], r["kernel"], r["batch"]) for r in grid if r["what"] == what}):
      pick = lambda pred: max((r for r in grid if r["what"] == what and
                               (r["ngf"], r["kernel"], r["batch"]) == key and pred(r)),
                              key=lambda r: r["per_s"], default=None)
      cells = []
      for dtype in ("float32", "bfloat16"):
        ours = pick(lambda r, d=dtype: r["options"] != "torch" and
                    (d == "bfloat16") == r["impl"].endswith("bfloat16"))
        theirs = pick(lambda r, d=dtype: r["impl"] == f"pytorch eager {d}")
        if ours and theirs:
          cells += [f"{ours['per_s']:.3g} ({ours['impl'].split()[0]})", f"{theirs['per_s']:.3g}",
                    f"{ours['per_s'] / theirs['per_s']:.2f}"]
        else:
          cells += ["", "", ""]
      out.append(f"| {what} | {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
  out += ["", "## Stage 2: the grid", "",
          "| what | options | form | ngf | k | batch | per s | GFLOP/item | % of peak |",
          "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if r.get("stage") == "grid" and "per_s" in r:
      gf = "" if r["gflop_per_item"] is None else f"{r['gflop_per_item']:.3f}"
      fr = "" if r["fraction_of_peak"] is None else f"{100 * r['fraction_of_peak']:.1f}"
      out.append(f"| {r['what']} | {r['options']} | {r['impl']} | {r['ngf']} | {r['kernel']} | "
                 f"{r['batch']} | {r['per_s']:.3g} {r['unit']} | {gf} | {fr} |")
  return "\n".join(out) + "\n"


def main(argv):
  del argv
  if _CHILD.value:
    stage, name = _CHILD.value.split(":", 1)
    print("ROWS " + json.dumps(_child(stage, OPTION_SETS[name])), flush=True)
    return
  env = benchmark.environment()
  slug = re.sub(r"[^a-z0-9]+", "-", env["cpu_model"].lower()).strip("-")
  os.makedirs(_OUT.value, exist_ok=True)
  path = os.path.join(_OUT.value, f"{slug}{'-smoke' if _SMOKE.value else ''}.json")
  rows = []
  if os.path.exists(path):  # resumable by stage and option set
    rows = json.load(open(path))["rows"]
  done = {(r.get("stage"), r.get("options")) for r in rows}

  def save(best=""):
    image_io.atomic_write_bytes(path, json.dumps({"environment": env, "best": best,
                                                  "rows": rows}, indent=1).encode())

  names = list(OPTION_SETS)[:2] if _SMOKE.value else list(OPTION_SETS)
  if _STAGE.value in ("all", "screen"):
    for name in names:
      if ("screen", name) not in done:
        print(f"screen: {name}", flush=True)
        rows += [dict(r, stage="screen") for r in _run_child("screen", name)]
        save()
  screen = [r for r in rows if r.get("stage") == "screen" and "per_s" in r]
  score = lambda name: sum(max((r["per_s"] for r in screen if r["options"] == name
                                and r["what"] == what), default=0) / max(
      (r["per_s"] for r in screen if r["options"] == "default" and r["what"] == what), default=1)
                           for what in ("search", "train"))
  best = max(names, key=score)
  if _STAGE.value in ("all", "grid"):
    for name in dict.fromkeys((best,)):
      if ("grid", name) not in done:
        print(f"grid: {name}", flush=True)
        rows += [dict(r, stage="grid") for r in _run_child("grid", name)]
        save(best)
    if _TORCH.value and ("grid", "torch") not in done:
      print("grid: pytorch", flush=True)
      rows += [dict(r, stage="grid") for r in _torch_rows()]
  save(best)
  md = os.path.join(_OUT.value, f"{slug}{'-smoke' if _SMOKE.value else ''}.md")
  image_io.atomic_write_bytes(md, _markdown(env, rows, best).encode())
  print(f"best option set: {best}; wrote {path} and {md}")


if __name__ == "__main__":
  app.run(main)
