"""The validation sweep that names the presets: candidate search settings measured on the
validation split, the rules that read the presets off the measured front, and its plot.

A candidate is a search setting over the paper's (`configs.search.settings`); each is run
on every (dataset, mask type) cell of the sweep and keeps its per-image scores, so two
candidates are compared on exactly the same images (the paper's 1,500-iteration search,
the slowest, runs on the first `paper_images` of each cell only). Time per image is the
wall clock minus JAX's compile time (`curves.timed`) at the sweep's batch size.

The rules (`choose`, `default_preset`; parameters in configs/sweep.py):
  fast      the fastest candidate at or above the paper's search on every cell (hole PSNR,
            compared on the paper's images);
  quality   the best mean hole PSNR within `quality_factor` x fast's time among the others
            at or above `fast` on every cell (none: not named);
  sharp     the lowest mean LPIPS over the hole within `quality_factor` x fast's time among
            the others at or above the paper on every cell, and at or below every faster
            named preset's LPIPS on every cell (averaging fills raises PSNR and blurs: this
            is the preset for the eye, not for PSNR);
  default   of the named presets, the best mean hole PSNR within `budget_s` per image: the
            default of the CLI, the page and the split runner.
No named preset loses to a faster one on any cell by its own criterion (`check_front`).
"""

from __future__ import annotations

import copy
import io
import json
from typing import Callable, Sequence

import ml_collections
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.configs import search as search_config
from inpaint_jax.configs import sweep as sweep_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.evaluation import curves
from inpaint_jax.evaluation import metrics

CANDIDATES = sweep_config.CANDIDATES  # name -> search fields over the paper's
SCORES = ("psnr_hole", "psnr_whole", "ssim", "lpips_hole")


def measure(images: np.ndarray, masks: np.ndarray, params: dict,
            config: ml_collections.ConfigDict, overrides: dict, batch_size: int,
            seed: int = 0, ids: Sequence[int] | None = None) -> dict:
  """One candidate on one cell: per-image scores (lists) and seconds per image (compile
  excluded: a short untimed run compiles first)."""
  cfg = copy.deepcopy(config)
  cfg.search = search_config.settings(None, dict(overrides, batch_size=batch_size),
                                      base=search_config.defaults())
  warm = copy.deepcopy(cfg)
  warm.search = search_config.settings(None, curves._warm_up(dict(cfg.search)),  # pylint: disable=protected-access
                                       base=cfg.search)
  inpaint_lib.inpaint(images[:batch_size], masks[:batch_size], params, warm, seed,
                      ids=None if ids is None else ids[:batch_size])
  with curves.timed() as clock:
    out = inpaint_lib.inpaint(images, masks, params, cfg, seed, ids=ids)
  s = metrics.scores(out.blended, images, masks)
  return {"images": len(images), "s_per_image": clock["time_s"] / len(images),
          "compile_s": clock["compile_s"], **{k: [float(v) for v in s[k]] for k in SCORES}}


def cell_mean(result: dict, score: str = "psnr_hole", first: int | None = None) -> float:
  return float(np.nanmean(result[score][:first]))


def times(results: dict) -> dict[str, float]:
  """Candidate -> seconds per image, averaged over the cells (a cell's time is per image)."""
  out = {}
  for cells in results.values():
    for name, r in cells.items():
      out.setdefault(name, []).append(r["s_per_image"])
  return {k: float(np.mean(v)) for k, v in out.items()}


def at_least(results: dict, a: str, b: str, first: int | None = None,
             score: str = "psnr_hole") -> bool:
  """Whether candidate `a` is at least as good as `b` on every cell by `score` (hole PSNR:
  higher; LPIPS: lower), over the first `first` images of each cell or all both have."""
  sign = -1.0 if score.startswith("lpips") else 1.0
  for cells in results.values():
    n = first or min(cells[a]["images"], cells[b]["images"])
    if sign * cell_mean(cells[a], score, n) < sign * cell_mean(cells[b], score, n):
      return False
  return True


def mean_score(results: dict, name: str, score: str = "psnr_hole") -> float:
  return float(np.mean([cell_mean(cells[name], score) for cells in results.values()]))


def choose(results: dict, quality_factor: float, reference: str = "paper") -> dict[str, str | None]:
  """The presets by the rules of this module's docstring: {'fast', 'quality', 'sharp'} ->
  candidate name (None where no other candidate meets the rule). results: cell ->
  candidate -> `measure` output, every candidate in every cell."""
  t = times(results)
  others = sorted((n for n in t if n != reference), key=lambda n: t[n])
  paper_n = min(cells[reference]["images"] for cells in results.values())
  above_paper = [n for n in others if at_least(results, n, reference, paper_n)]
  fast = above_paper[0] if above_paper else None
  chosen = {"fast": fast, "quality": None, "sharp": None}
  if fast is None:
    return chosen
  within = [n for n in others if n != fast and t[n] <= quality_factor * t[fast]]
  ok = [n for n in within if at_least(results, n, fast)]
  chosen["quality"] = max(ok, key=lambda n: mean_score(results, n)) if ok else None
  named = [p for p in (fast, chosen["quality"]) if p]
  ok = [n for n in within if n in above_paper and n not in named
        and all(at_least(results, n, p, score="lpips_hole") for p in named if t[p] <= t[n])]
  chosen["sharp"] = (min(ok, key=lambda n: mean_score(results, n, "lpips_hole"))
                     if ok else None)
  return chosen


# What each preset claims, and so what it must not lose on to a faster preset.
CRITERION = {"fast": "psnr_hole", "quality": "psnr_hole", "sharp": "lpips_hole"}


def default_preset(results: dict, chosen: dict[str, str | None], budget_s: float) -> str | None:
  """The named preset with the best mean hole PSNR within `budget_s` seconds per image."""
  t = times(results)
  ok = [k for k, v in chosen.items() if v and t[v] <= budget_s]
  return max(ok, key=lambda k: mean_score(results, chosen[k])) if ok else None


def check_front(results: dict, chosen: dict[str, str | None]) -> list[str]:
  """Why a named preset loses to a faster one on some cell by its own criterion (hole PSNR;
  LPIPS for `sharp`); empty where the front holds."""
  t = times(results)
  named = sorted(((k, v) for k, v in chosen.items() if v), key=lambda kv: t[kv[1]])
  problems = []
  for i, (slow_name, slow) in enumerate(named):
    score = CRITERION.get(slow_name, "psnr_hole")
    for fast_name, fast in named[:i]:
      if slow != fast and not at_least(results, slow, fast, score=score):
        problems.append(f"{slow_name} ({slow}) loses to the faster {fast_name} ({fast}) "
                        f"on {score}")
  return problems


def table(results: dict, chosen: dict[str, str | None]) -> str:
  """Markdown: per candidate its time, and hole PSNR ± SE / LPIPS(hole) per cell."""
  t = times(results)
  cells = list(results)
  label = {v: k for k, v in chosen.items() if v}
  lines = ["| candidate | preset | s / image | " + " | ".join(cells) + " | mean |",
           "|" + "---|" * (len(cells) + 4)]
  for name in sorted(t, key=lambda n: t[n]):
    vals = []
    for c in cells:
      r = results[c][name]
      v = np.asarray(r["psnr_hole"])
      sem = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
      vals.append(f"{v.mean():.2f} ± {sem:.2f} / {np.nanmean(r['lpips_hole']):.3f}"
                  + (f" (n={len(v)})" if name == "paper" else ""))
    lines.append(f"| {name} | {label.get(name, '')} | {t[name]:.3f} | " + " | ".join(vals)
                 + f" | {mean_score(results, name):.2f} |")
  return "\n".join(lines)


def plot(results: dict, chosen: dict[str, str | None], title: str) -> bytes:
  """PNG: mean hole PSNR and mean LPIPS(hole) over the cells against seconds per image
  (log scale), one point per candidate, the named presets labelled."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  t = times(results)
  label = {v: k for k, v in chosen.items() if v}
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
  for ax, score, name in ((axes[0], "psnr_hole", "mean hole PSNR (dB), higher is better"),
                          (axes[1], "lpips_hole", "mean LPIPS over the hole, lower is closer")):
    for cand in t:
      y = np.mean([np.nanmean(cells[cand][score]) for cells in results.values()])
      ax.scatter(t[cand], y, color="C3" if cand in label else "C0", zorder=3)
      ax.annotate(cand + (f" = {label[cand]}" if cand in label else ""), (t[cand], y),
                  fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (compile excluded)")
    ax.set_ylabel(name)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  plt.close(fig)
  return buf.getvalue()


def measured_with(num_images: int, paper_images: int, batch_size: int, params: dict,
                  split: str, seed: int) -> dict:
  """What a cell's candidates were measured with: reused only while this is equal."""
  encoder = params.get("encoder")
  return {"images": num_images, "paper_images": paper_images, "batch_size": batch_size,
          "split": split, "seed": seed, "model_sha256": model_files.dcgan_fingerprint(params),
          "encoder_sha256": None if encoder is None else model_files.fingerprint(encoder)}


def run(cells: dict[str, Callable[[], tuple]], candidates: Sequence[str], config,
        done: dict, save: Callable[[dict], None], log=print, table: dict | None = None) -> dict:
  """Measures every candidate missing from `done` (cell -> {'key', 'candidates'}) and
  calls `save(done)` after each. cells: name -> () -> (images, masks, ids, params,
  model_config) (loaded only when the cell has work); table: name -> search fields
  (default CANDIDATES)."""
  table = CANDIDATES if table is None else table
  for cell, load in cells.items():
    # Loaded every time (a dataset's model and images once for all its cells): a retrained
    # model or encoder changes the key, and the cell is measured afresh.
    images, masks, ids, params, model_config = load()
    key = measured_with(len(images), config.paper_images, config.batch_size, params,
                        config.split, config.seed)
    entry = done.get(cell, {})
    if entry.get("key") != key:
      entry = {"key": key, "candidates": {}}
    todo = [c for c in candidates if c not in entry["candidates"]]
    for name in todo:
      n = config.paper_images if name == "paper" else len(images)
      r = measure(images[:n], masks[:n], params, model_config, table[name],
                  config.batch_size, config.seed, ids[:n])
      entry["candidates"][name] = r
      done[cell] = entry
      save(done)
      log(f"{cell:16s} {name:12s} {r['s_per_image']:.3f} s/image  hole PSNR "
          f"{cell_mean(r):.2f} dB  LPIPS(hole) {np.nanmean(r['lpips_hole']):.3f}  ({n} images)")
  return done


def results_of(done: dict, candidates: Sequence[str]) -> dict:
  """cell -> candidate -> measurement, for the candidates given."""
  return {cell: {c: e["candidates"][c] for c in candidates} for cell, e in done.items()}


def dumps(done: dict) -> bytes:
  return json.dumps(done).encode()
