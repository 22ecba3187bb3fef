"""Reproducing Table 1 of Yeh et al.: every method on every dataset x mask type, one table.

Layout of a table workdir: <dataset>/<method>/<mask>/ is one `runner.run_cell` output
(run.json, results.csv, summary.json, PNGs) for ours, ce, tv, nn and telea alike; every
cell is resumable and written atomically. The table is built from the summary files alone,
so cells computed on other machines (e.g. the full splits on a GPU) can be copied in and
the table rebuilt. A finished cell is never recomputed; one made with other settings is
refused (delete its folder after retraining a model).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import os
import platform
import time
from typing import Any, Sequence

import jax
import numpy as np

from inpaint_jax.configs import presets
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import baselines
from inpaint_jax.evaluation import figures
from inpaint_jax.evaluation import runner
from inpaint_jax.models import context_encoder
from inpaint_jax.train import checkpoints
from inpaint_jax.train import context_encoder as ce_train

DATASETS = ("celeba", "svhn", "cars")
TITLES = {"celeba": "CelebA", "svhn": "SVHN", "cars": "Stanford Cars",
          "ce": "CE", "ours": "ours", "fast": "ours, fast", "quality": "ours, quality",
          "tv": "TV", "nn": "NN", "telea": "Telea"}
# "ours" is the paper's method exactly; "fast" and "quality" are the search presets beyond
# it (`presets.SEARCH_PRESETS`, encoder start), run where the model has a latent encoder.
METHODS = ("ce", "ours", "fast", "quality", "tv", "nn", "telea")
# Table 1 of Yeh et al. (2017), PSNR in dB: (Context Encoder, ours).
PAPER_PSNR = {
    "celeba": {"center": (21.3, 19.4), "pattern": (19.2, 17.4), "random": (20.6, 22.8),
               "half": (15.5, 13.7)},
    "svhn": {"center": (22.3, 19.0), "pattern": (22.3, 19.8), "random": (24.1, 33.0),
             "half": (19.1, 14.6)},
    "cars": {"center": (14.1, 13.5), "pattern": (14.0, 14.1), "random": (16.1, 18.9),
             "half": (12.6, 11.1)},
}


@dataclasses.dataclass
class DatasetRun:
  """One dataset's inputs. test/train: random-access uint8 image sources (train feeds the
  nearest-neighbour baseline; None skips it). dcgan: {'generator', 'discriminator'} and
  its config (None skips ours); ce: mask type -> (config, variables, fill colour)."""

  name: str
  test: Any
  train: Any | None = None
  dcgan: tuple[dict, Any] | None = None
  ce: dict[str, tuple[Any, dict, np.ndarray]] = dataclasses.field(default_factory=dict)


def cell_dir(workdir: str, dataset: str, method: str, mask_type: str) -> str:
  return os.path.join(workdir, dataset, method, mask_type)


def cell_methods(run: DatasetRun, mask_type: str, methods: Sequence[str], seed: int = 0,
                 tv_iterations: int = 1000) -> list[runner.Method]:
  """The methods of `methods` that can run on `run` for `mask_type`, in table order."""
  found = []
  for name in methods:
    if name == "ours" and run.dcgan is not None:
      params, config = run.dcgan
      found.append(runner.ours(params, config, seed))
    elif name in ("fast", "quality") and run.dcgan is not None and "encoder" in run.dcgan[0]:
      params, config = run.dcgan
      config = presets.with_overrides(copy.deepcopy(config), **presets.SEARCH_PRESETS[name])
      found.append(runner.ours(params, config, seed, name=name))
    elif name == "ce" and mask_type in run.ce:
      config, variables, colour = run.ce[mask_type]
      found.append(runner.one_shot("ce", lambda x, m, c=config, v=variables, f=colour: np.asarray(
          context_encoder.fill(v, x, m, f, c.model)),
          {"model": config.model.to_dict(), "model_sha256": checkpoints.fingerprint(variables)}))
    elif name == "tv":
      found.append(runner.one_shot("tv", lambda x, m: baselines.tv_inpaint(x, m, tv_iterations),
                                   {"iterations": tv_iterations}))
    elif name == "nn" and run.train is not None:
      found.append(runner.one_shot("nn", lambda x, m: baselines.nearest_neighbour_fill(
          x, m, run.train), {"library_images": len(run.train)}))
    elif name == "telea" and baselines.telea_available():
      found.append(runner.one_shot("telea", baselines.telea_inpaint, {"radius": 3}))
  return found


def run_cells(runs: Sequence[DatasetRun], workdir: str, *, mask_types: Sequence[str] = masks_lib.MASK_TYPES,
              methods: Sequence[str] = METHODS, num_images: int | None = 100, seed: int = 0,
              batch_size: int = 50, log=print) -> None:
  """Computes every missing cell (dataset x mask type x method) under `workdir`."""
  for run in runs:
    for mask_type in mask_types:
      for method in cell_methods(run, mask_type, methods, seed):
        out = cell_dir(workdir, run.name, method.name, mask_type)
        s = runner.run_cell(run.test, method, out, mask_type, seed=seed, batch_size=batch_size,
                            num_images=num_images)
        log(f"{run.name} {mask_type} {method.name}: hole PSNR "
            f"{s.get('mean_psnr_hole', float('nan')):.2f} dB")


def collect(workdir: str, mask_types: Sequence[str] = masks_lib.MASK_TYPES) -> list[dict]:
  """One row per existing cell: dataset, mask_type, method, images, PSNRs, SSIM, paper."""
  rows = []
  for dataset in DATASETS:
    for mask_type in mask_types:
      for method in METHODS:
        s = runner.read_summary(cell_dir(workdir, dataset, method, mask_type))
        if s is None or "mean_psnr_hole" not in s:
          continue
        paper = PAPER_PSNR[dataset][mask_type]
        rows.append({
            "dataset": dataset, "mask_type": mask_type, "method": method,
            "images": int(s["images"]), "psnr_hole": s["mean_psnr_hole"],
            "psnr_hole_sem": s.get("sem_psnr_hole"),
            "psnr_whole": s["mean_psnr_whole"], "ssim": s["mean_ssim"],
            "lpips": s.get("mean_lpips"), "lpips_hole": s.get("mean_lpips_hole"),
            "paper_psnr": {"ce": paper[0], "ours": paper[1]}.get(method),
            "iterations": s.get("settings", {}).get("iterations"),
            "restarts": s.get("settings", {}).get("restarts"),
            "seconds": s.get("seconds_last_session")})
  return rows


def _fmt(x, digits=2):
  return "—" if x is None else f"{x:.{digits}f}"


def claim(rows: Sequence[dict], dataset: str) -> str:
  """One sentence: on the masks where the CE wins hole PSNR, is ours perceptually closer
  (lower LPIPS over the hole's box), as the paper argues? Says what the numbers say."""
  cell = {(r["mask_type"], r["method"]): r for r in rows if r["dataset"] == dataset}
  both = [m for m in masks_lib.MASK_TYPES if (m, "ce") in cell and (m, "ours") in cell
          and cell[(m, "ce")].get("lpips_hole") is not None
          and cell[(m, "ours")].get("lpips_hole") is not None]
  if not both:
    return f"{TITLES[dataset]}: no CE and ours cells with LPIPS to compare."
  ce_wins = [m for m in both if cell[(m, "ce")]["psnr_hole"] > cell[(m, "ours")]["psnr_hole"]]
  if not ce_wins:
    return (f"{TITLES[dataset]}: the CE wins hole PSNR on no mask type, so the claim is not "
            "tested here.")
  closer = [m for m in ce_wins if cell[(m, "ours")]["lpips_hole"] < cell[(m, "ce")]["lpips_hole"]]
  detail = "; ".join(f"{m}: PSNR {cell[(m, 'ce')]['psnr_hole']:.2f} vs "
                     f"{cell[(m, 'ours')]['psnr_hole']:.2f} dB, LPIPS {cell[(m, 'ce')]['lpips_hole']:.3f} "
                     f"vs {cell[(m, 'ours')]['lpips_hole']:.3f}" for m in ce_wins)
  verdict = ("holds" if len(closer) == len(ce_wins) else "does not hold" if not closer
             else f"holds on {', '.join(closer)} only")
  return (f"{TITLES[dataset]}: the CE wins hole PSNR on {', '.join(ce_wins)}; ours is "
          f"perceptually closer (lower LPIPS over the hole) on {len(closer)} of them, so the "
          f"paper's claim {verdict} ({detail}; CE vs ours).")


def render_markdown(rows: Sequence[dict], meta: dict, missing: dict[str, str]) -> str:
  """Table 1 as markdown: per dataset, PSNR over the hole beside the paper's, then whole-image
  PSNR and SSIM. `missing`: dataset -> why it was not run (printed, never filled in)."""
  cell = {(r["dataset"], r["mask_type"], r["method"]): r for r in rows}
  masks_present = [m for m in masks_lib.MASK_TYPES if any(r["mask_type"] == m for r in rows)]
  lines = ["# Table 1 of Yeh et al. (2017), reproduced", "",
           "PSNR in dB over the **missing pixels** (the figure that matches the paper's Table 1, "
           "see BUILD_NOTES.md), the paper's number in brackets. CE: Context Encoder; TV: "
           "total-variation inpainting; NN: nearest training image on the known pixels; "
           "Telea: OpenCV's fast marching. Every method sees the same images and masks.", ""]
  for key, value in meta.items():
    lines.append(f"- {key}: {value}")
  lines.append("")
  for dataset in DATASETS:
    title = TITLES[dataset]
    have = [m for m in METHODS if any(k[0] == dataset and k[2] == m for k in cell)]
    if not have:
      lines += [f"## {title}", "", f"Not run: {missing.get(dataset, 'no results in the workdir')}.", ""]
      continue
    counts = sorted({r["images"] for r in rows if r["dataset"] == dataset})
    lines += [f"## {title} ({', '.join(map(str, counts))} test images per cell)", ""]
    header = "| mask | " + " | ".join(
        f"{TITLES[m]} (paper)" if m in ("ce", "ours") else TITLES[m] for m in have) + " |"
    lines += ["PSNR over the hole, dB (± the standard error of the mean over the images; "
              "cells scored before 0.9 have none):", "", header, "|" + "---|" * (len(have) + 1)]
    for mask_type in masks_present:
      cells = []
      for m in have:
        r = cell.get((dataset, mask_type, m))
        text = _fmt(r["psnr_hole"]) if r else "—"
        if r and r.get("psnr_hole_sem") is not None:
          text += f" ± {_fmt(r['psnr_hole_sem'])}"
        if m in ("ce", "ours"):
          text += f" ({_fmt(PAPER_PSNR[dataset][mask_type][0 if m == 'ce' else 1], 1)})"
        cells.append(text)
      lines.append(f"| {mask_type} | " + " | ".join(cells) + " |")
    for what, key, digits in (("PSNR over the whole image, dB", "psnr_whole", 2),
                              ("SSIM over the whole image", "ssim", 3),
                              ("LPIPS over the hole's bounding box (at least 32×32), lower is "
                               "closer", "lpips_hole", 3),
                              ("LPIPS over the whole image", "lpips", 3)):
      lines += ["", f"{what}:", "", "| mask | " + " | ".join(TITLES[m] for m in have) + " |",
                "|" + "---|" * (len(have) + 1)]
      for mask_type in masks_present:
        vals = [_fmt(cell[(dataset, mask_type, m)][key], digits)
                if (dataset, mask_type, m) in cell else "—" for m in have]
        lines.append(f"| {mask_type} | " + " | ".join(vals) + " |")
    lines += ["", "**The paper's claim** (PSNR misjudges: the GAN search's fills are "
              "perceptually closer where the CE wins PSNR): " + claim(rows, dataset), ""]
  return "\n".join(lines)


def write_table(workdir: str, out_dir: str, meta: dict, missing: dict[str, str]) -> list[dict]:
  """Writes `table1.md` and `table1.csv` to out_dir from the cells in workdir."""
  rows = collect(workdir)
  images_lib.atomic_write_bytes(os.path.join(out_dir, "table1.md"),
                              render_markdown(rows, meta, missing).encode())
  buf = io.StringIO()
  fields = ["dataset", "mask_type", "method", "images", "psnr_hole", "psnr_whole", "ssim",
            "lpips", "lpips_hole", "paper_psnr", "iterations", "restarts", "seconds"]
  writer = csv.DictWriter(buf, fieldnames=fields)
  writer.writeheader()
  for r in rows:
    writer.writerow({k: ("" if r[k] is None else r[k]) for k in fields})
  images_lib.atomic_write_bytes(os.path.join(out_dir, "table1.csv"), buf.getvalue().encode())
  return rows


def load_ce_models(ce_root: str | None, dataset: str,
                   mask_types: Sequence[str] = masks_lib.MASK_TYPES) -> dict:
  """mask type -> trained CE, from `<ce_root>/<dataset>_<mask type>` workdirs that exist."""
  found = {}
  for mask_type in mask_types:
    path = os.path.join(ce_root or "", f"{dataset}_{mask_type}")
    if ce_root and os.path.isdir(os.path.join(path, "checkpoints")):
      config, variables, fill_colour = ce_train.load(path)
      if config.mask_type != mask_type:
        raise ValueError(f"{path} holds a CE trained on {config.mask_type!r} masks, not {mask_type!r}")
      found[mask_type] = (config, variables, fill_colour)
  return found


def build_run(name: str, checkpoint: str, *, folder: str | None = None, tfds_name: str | None = None,
              test_split: str | None = None, ce_root: str | None = None, iterations: int = 1500,
              restarts: int = 1, with_train: bool = True) -> DatasetRun:
  """A dataset's sources, its DCGAN (a workdir or model file) and its CEs.

  The splits default to the checkpoint config's; `folder` / `tfds_name` replace its source.
  """
  config, params = checkpoints.load_params(checkpoint, presets.bundled_encoder_for(checkpoint),
                                           iterations=iterations, restarts=restarts,
                                           folder=folder, tfds_name=tfds_name)
  size = config.model.image_size
  test = sources.make_source(config.dataset, test_split or config.dataset.test_split, size)
  train = (sources.make_source(config.dataset, config.dataset.train_split, size)
           if with_train else None)
  return DatasetRun(name=name, test=test, train=train,
                    dcgan=(params, config),
                    ce=load_ce_models(ce_root, name))


def hardware() -> str:
  """The accelerators and the host CPU, e.g. '1 x cpu (cpu), 2 host cores (Intel Xeon ...)'."""
  device = jax.devices()[0]
  cpu = platform.processor() or "unknown CPU"
  if os.path.isfile("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cpu = names[0] if names else cpu
  return (f"{jax.device_count()} x {device.device_kind} ({device.platform}), "
          f"{os.cpu_count()} host cores ({cpu})")


def _why_not(run: DatasetRun, method: str) -> str:
  """Why `method` cannot run on some cell of `run` (see `cell_methods`)."""
  if method in ("ours", "fast", "quality") and run.dcgan is None:
    return f"no DCGAN for {run.name}"
  if method in ("fast", "quality"):
    return f"the {run.name} DCGAN has no latent encoder"
  if method == "ce":
    return "no Context Encoder trained for it under --ce_root"
  if method == "nn":
    return f"no train split of {run.name} loaded (--nearest_neighbour)"
  if method == "telea":
    return "OpenCV is not installed (pip install -e '.[baselines]')"
  return "not available"


def _check_methods_can_run(runs, mask_types, methods, seed, log) -> None:
  """Says which requested method cannot run for which cell (its column stays empty there);
  ValueError, before any work, where no requested cell can run at all."""
  reasons, runnable = {}, 0
  for run in runs:
    for mask_type in mask_types:
      can = {m.name for m in cell_methods(run, mask_type, methods, seed)}
      runnable += len(can)
      for name in methods:
        if name not in can:
          reasons.setdefault((name, _why_not(run, name)), []).append(
              f"{run.name} {mask_type}")
  lines = [f"{name} cannot run for {', '.join(cells)}: {why}" for (name, why), cells in
           reasons.items()]
  if not runnable:
    raise ValueError("none of the requested cells can run: " + "; ".join(lines))
  for line in lines:
    log(f"table1: {line}; its cells stay empty")


def reproduce(runs: Sequence[DatasetRun], workdir: str, out_dir: str, missing: dict[str, str], *,
              mask_types: Sequence[str] = masks_lib.MASK_TYPES, methods: Sequence[str] = METHODS,
              num_images: int | None = 100, seed: int = 0, batch_size: int = 50,
              figure_images: int = 6, ablation_images: int = 8, log=print) -> list[dict]:
  """Runs every missing cell, writes table1.md/.csv and the figures to out_dir; returns rows.

  Figures: fig8_<dataset>_<mask>.png (real, input, then each method) for the first
  `figure_images` test images, fig12_<dataset>.png (CE and ours with their error images,
  hole PSNR and LPIPS) for the first test image, and for the first dataset with a DCGAN fig4_prior.png,
  fig5_blending.png and loss_curve.png on `ablation_images` images with the centre mask.
  """
  unknown = sorted(set(methods) - set(METHODS)) + sorted(set(mask_types) - set(masks_lib.MASK_TYPES))
  if unknown:
    raise ValueError(f"unknown method or mask type {unknown}: methods are {METHODS}, mask "
                     f"types {masks_lib.MASK_TYPES}")
  _check_methods_can_run(runs, mask_types, methods, seed, log)
  start = time.perf_counter()
  run_cells(runs, workdir, mask_types=mask_types, methods=methods, num_images=num_images,
            seed=seed, batch_size=batch_size, log=log)
  iterations = sorted({r.dcgan[1].search.iterations for r in runs if r.dcgan})
  restarts = sorted({r.dcgan[1].search.restarts for r in runs if r.dcgan})
  meta = {"test images per cell": f"the first {num_images} of each test split"
                                  if num_images else "the whole test split",
          "latent search": f"{'/'.join(map(str, iterations))} Adam iterations, "
                           f"{'/'.join(map(str, restarts))} restart(s), Poisson blending",
          "hardware": hardware(), "masks": f"seed {seed}, identical for every method",
          "date": time.strftime("%Y-%m-%d")}
  timings = {}
  for r in collect(workdir, mask_types):
    if r["seconds"] is not None:
      timings[r["method"]] = timings.get(r["method"], 0.0) + r["seconds"]
  meta["time"] = (f"{time.perf_counter() - start:.0f} s for this call; time recorded in the "
                  "cells (inpainting only, not CE training): "
                  + ", ".join(f"{TITLES[m]} {timings[m]:.0f} s" for m in METHODS if m in timings))
  rows = write_table(workdir, out_dir, meta, missing)
  log(f"wrote {os.path.join(out_dir, 'table1.md')} ({len(rows)} cells)")
  for run in runs:
    shown = min(figure_images, len(run.test), num_images or len(run.test))
    names = run.test.ids()[:shown]
    for mask_type in mask_types:
      cells = [(TITLES[m], cell_dir(workdir, run.name, m, mask_type)) for m in METHODS
               if m in methods and runner.read_summary(cell_dir(workdir, run.name, m, mask_type))]
      if not cells or not names:
        continue
      picture = figures.method_grid(cells, mask_type, names)
      images_lib.save_image(os.path.join(out_dir, f"fig8_{run.name}_{mask_type}.png"), picture)
    pair = {m: {k: cell_dir(workdir, run.name, m, k) for k in mask_types} for m in ("ce", "ours")}
    both = [k for k in mask_types if all(runner.read_summary(pair[m][k]) for m in pair)]
    if names and both:
      picture = figures.error_figure([(TITLES[m], pair[m]) for m in pair], both, names[0])
      images_lib.save_image(os.path.join(out_dir, f"fig12_{run.name}.png"), picture)
  with_model = [r for r in runs if r.dcgan is not None]
  if with_model and ablation_images:
    run = with_model[0]
    params, config = run.dcgan
    n = min(ablation_images, len(run.test))
    pixels = np.stack([run.test[i] for i in range(n)])
    images = images_lib.to_float(pixels)
    m = masks_lib.make_masks("center", config.model.image_size, seed,
                             images_lib.pixel_hashes(pixels))
    numbers = figures.search_ablations(images, m, params, config, out_dir, seed, dataset=run.name)
    log(f"ablations on {n} {run.name} images (center): {numbers}")
  return rows
