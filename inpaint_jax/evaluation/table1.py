"""Reproducing Table 1 of Yeh et al.: every method on every dataset x mask type, one table.

What runs is a config (configs/table1.py, checked by `validate`); each column is a method
registered in METHODS (`register`: how it is built for a cell, why it cannot run).

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
import json
import os
import platform
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import baselines
from inpaint_jax.evaluation import figures
from inpaint_jax.evaluation import metrics
from inpaint_jax.evaluation import runner
from inpaint_jax.models import context_encoder

DATASETS = ("celeba", "svhn", "cars")
TITLES = {"celeba": "CelebA", "svhn": "SVHN", "cars": "Stanford Cars"}
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


@dataclasses.dataclass(frozen=True)
class TableMethod:
  """A column of the table: its title, how it is built for one dataset and mask type
  (`make(run, mask_type, config) -> runner.Method`, or None where it cannot run there) and
  why it cannot (`why_not(run)`)."""

  title: str
  make: Callable[[DatasetRun, str, Any], runner.Method | None]
  why_not: Callable[[DatasetRun], str]


METHODS: dict[str, TableMethod] = {}  # in table order


def register(name: str, title: str, why_not: Callable[[DatasetRun], str]):
  """Adds the decorated `make(run, mask_type, config)` to METHODS as column `name`."""
  def add(make):
    METHODS[name] = TableMethod(title, make, why_not)
    return make
  return add


def _search_column(run: DatasetRun, preset: str | None, config, name: str):
  """The latent search on `run`'s DCGAN: the table's `search` (preset None) or a preset."""
  params, model_config = run.dcgan
  model_config = copy.deepcopy(model_config)
  if preset is not None:
    model_config.search = search_config.settings(preset, dict(batch_size=config.search.batch_size))
  inpaint_lib.check_settings(params, model_config)
  return runner.ours(params, model_config, config.seed, name=name)


@register("ce", "CE", lambda run: "no Context Encoder trained for it under --config.ce_root")
def _ce(run, mask_type, config):
  if mask_type not in run.ce:
    return None
  ce_cfg, variables, colour = run.ce[mask_type]
  return runner.one_shot("ce", lambda x, m: np.asarray(
      context_encoder.fill(variables, x, m, colour, ce_cfg.model)),
      {"model": ce_cfg.model.to_dict(), "model_sha256": model_files.fingerprint(variables),
       "trained_on": ce_cfg.mask_type})


@register("ours", "ours", lambda run: f"no DCGAN for {run.name}")
def _ours(run, mask_type, config):
  return None if run.dcgan is None else _search_column(run, None, config, "ours")


def _needs_encoder(run):
  return (f"no DCGAN for {run.name}" if run.dcgan is None
          else f"the {run.name} DCGAN has no latent encoder")


# Every preset beyond the paper's (configs/search.py) is a column: they start from the encoder.
for _preset, _title in ((p, f"ours, {p}") for p in search_config.PRESETS if p != "paper"):
  register(_preset, _title, _needs_encoder)(
      lambda run, mask_type, config, p=_preset: None
      if run.dcgan is None or "encoder" not in run.dcgan[0]
      else _search_column(run, p, config, p))


@register("tv", "TV", lambda run: "not available")
def _tv(run, mask_type, config):
  n = config.tv_iterations
  return runner.one_shot("tv", lambda x, m: baselines.tv_inpaint(x, m, n), {"iterations": n})


@register("nn", "NN", lambda run: f"no train split of {run.name} loaded "
                                  "(--config.nearest_neighbour)")
def _nn(run, mask_type, config):
  if run.train is None:
    return None
  return runner.one_shot("nn", lambda x, m: baselines.nearest_neighbour_fill(x, m, run.train),
                         {"library_images": len(run.train)})


@register("telea", "Telea", lambda run: "OpenCV is not installed (pip install -e '.[baselines]')")
def _telea(run, mask_type, config):
  if not baselines.telea_available():
    return None
  return runner.one_shot("telea", baselines.telea_inpaint, {"radius": 3})


@register("biharmonic", "biharmonic",
          lambda run: "scikit-image is not installed (pip install -e '.[baselines]')")
def _biharmonic(run, mask_type, config):
  if not baselines.biharmonic_available():
    return None
  return runner.one_shot("biharmonic", baselines.biharmonic_inpaint)


def title(name: str) -> str:
  """A dataset's or a method's title in the table."""
  return METHODS[name].title if name in METHODS else TITLES.get(name, name)


def cell_methods(run: DatasetRun, mask_type: str, config) -> list[runner.Method]:
  """The methods of `config.methods` that can run on `run` for `mask_type`, in table order."""
  found = [METHODS[name].make(run, mask_type, config) for name in METHODS
           if name in config.methods]
  return [m for m in found if m is not None]


def run_cells(runs: Sequence[DatasetRun], workdir: str, config, log=print) -> None:
  """Computes every missing cell (dataset x mask type x method of `config`) under `workdir`."""
  for run in runs:
    for mask_type in config.mask_types:
      for method in cell_methods(run, mask_type, config):
        out = cell_dir(workdir, run.name, method.name, mask_type)
        s = runner.run_cell(run.test, method, out, mask_type, seed=config.seed,
                            batch_size=config.batch_size, num_images=config.num_images or None)
        log(f"{run.name} {mask_type} {method.name}: hole PSNR "
            f"{s.get('mean_psnr_hole', float('nan')):.2f} dB")


def collect(workdir: str, mask_types: Sequence[str] = masks_lib.PAPER_TYPES) -> list[dict]:
  """One row per existing cell: dataset, mask_type, method, images, PSNRs, SSIM, paper."""
  rows = []
  for dataset in DATASETS:
    for mask_type in mask_types:
      for method in METHODS:
        out = cell_dir(workdir, dataset, method, mask_type)
        s = runner.read_summary(out)
        if s is None or "mean_psnr_hole" not in s:
          continue
        d = runner.read_distribution(out) or {}
        paper = PAPER_PSNR[dataset].get(mask_type, (None, None))  # none for LaMa's masks
        rows.append({
            "dataset": dataset, "mask_type": mask_type, "method": method,
            "images": int(s["images"]), "psnr_hole": s["mean_psnr_hole"],
            "psnr_hole_sem": s.get("sem_psnr_hole"),
            "psnr_whole": s["mean_psnr_whole"], "ssim": s["mean_ssim"],
            "lpips": s.get("mean_lpips"), "lpips_hole": s.get("mean_lpips_hole"),
            "paper_psnr": {"ce": paper[0], "ours": paper[1]}.get(method),
            "iterations": s.get("settings", {}).get("iterations"),
            "restarts": s.get("settings", {}).get("restarts"),
            "seconds": s.get("seconds_last_session"),
            "fid": d.get("fid"), "kid": d.get("kid"), "kid_std": d.get("kid_std")})
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
    return f"{title(dataset)}: no CE and ours cells with LPIPS to compare."
  ce_wins = [m for m in both if cell[(m, "ce")]["psnr_hole"] > cell[(m, "ours")]["psnr_hole"]]
  if not ce_wins:
    return (f"{title(dataset)}: the CE wins hole PSNR on no mask type, so the claim is not "
            "tested here.")
  closer = [m for m in ce_wins if cell[(m, "ours")]["lpips_hole"] < cell[(m, "ce")]["lpips_hole"]]
  detail = "; ".join(f"{m}: PSNR {cell[(m, 'ce')]['psnr_hole']:.2f} vs "
                     f"{cell[(m, 'ours')]['psnr_hole']:.2f} dB, LPIPS {cell[(m, 'ce')]['lpips_hole']:.3f} "
                     f"vs {cell[(m, 'ours')]['lpips_hole']:.3f}" for m in ce_wins)
  verdict = ("holds" if len(closer) == len(ce_wins) else "does not hold" if not closer
             else f"holds on {', '.join(closer)} only")
  return (f"{title(dataset)}: the CE wins hole PSNR on {', '.join(ce_wins)}; ours is "
          f"perceptually closer (lower LPIPS over the hole) on {len(closer)} of them, so the "
          f"paper's claim {verdict} ({detail}; CE vs ours).")


def render_markdown(rows: Sequence[dict], meta: dict, missing: dict[str, str]) -> str:
  """Table 1 as markdown: per dataset, PSNR over the hole beside the paper's, then whole-image
  PSNR and SSIM. `missing`: dataset -> why it was not run (printed, never filled in)."""
  cell = {(r["dataset"], r["mask_type"], r["method"]): r for r in rows}
  masks_present = [m for m in masks_lib.MASK_TYPES if any(r["mask_type"] == m for r in rows)]
  irregular = [m for m in masks_present if m in masks_lib.IRREGULAR_TYPES]
  heading = ("# Today's irregular masks (LaMa's thin, medium and thick strokes and boxes)"
             if masks_present and len(irregular) == len(masks_present)
             else "# Table 1 of Yeh et al. (2017), reproduced")
  lines = [heading, "",
           "PSNR in dB over the **missing pixels** (the figure that matches the paper's Table 1, "
           "see BUILD_NOTES.md), the paper's number in brackets where it has one. CE: Context Encoder; TV: "
           "total-variation inpainting; NN: nearest training image on the known pixels; "
           "Telea: OpenCV's fast marching. Every method sees the same images and masks.", ""]
  for key, value in meta.items():
    if key != "splits":  # dataset -> split, for the headings below
      lines.append(f"- {key}: {value}")
  lines.append("")
  for dataset in DATASETS:
    heading = title(dataset)
    have = [m for m in METHODS if any(k[0] == dataset and k[2] == m for k in cell)]
    if not have:
      lines += [f"## {heading}", "", f"Not run: {missing.get(dataset, 'no results in the workdir')}.", ""]
      continue
    counts = sorted({r["images"] for r in rows if r["dataset"] == dataset})
    split = meta.get("splits", {}).get(dataset, "test")
    lines += [f"## {heading} ({', '.join(map(str, counts))} images per cell, split: {split})", ""]
    header = "| mask | " + " | ".join(
        f"{title(m)} (paper)" if m in ("ce", "ours") else title(m) for m in have) + " |"
    lines += ["PSNR over the hole, dB (± the standard error of the mean over the images; "
              "cells scored before 0.9 have none):", "", header, "|" + "---|" * (len(have) + 1)]
    for mask_type in masks_present:
      cells = []
      for m in have:
        r = cell.get((dataset, mask_type, m))
        text = _fmt(r["psnr_hole"]) if r else "—"
        if r and r.get("psnr_hole_sem") is not None:
          text += f" ± {_fmt(r['psnr_hole_sem'])}"
        if m in ("ce", "ours") and mask_type in PAPER_PSNR[dataset]:
          text += f" ({_fmt(PAPER_PSNR[dataset][mask_type][0 if m == 'ce' else 1], 1)})"
        cells.append(text)
      lines.append(f"| {mask_type} | " + " | ".join(cells) + " |")
    for what, key, digits in (("PSNR over the whole image, dB", "psnr_whole", 2),
                              ("SSIM over the whole image", "ssim", 3),
                              ("LPIPS over the hole's bounding box (at least 32×32), lower is "
                               "closer", "lpips_hole", 3),
                              ("LPIPS over the whole image", "lpips", 3)):
      lines += ["", f"{what}:", "", "| mask | " + " | ".join(title(m) for m in have) + " |",
                "|" + "---|" * (len(have) + 1)]
      for mask_type in masks_present:
        vals = [_fmt(cell[(dataset, mask_type, m)][key], digits)
                if (dataset, mask_type, m) in cell else "—" for m in have]
        lines.append(f"| {mask_type} | " + " | ".join(vals) + " |")
    if any(cell[k].get("fid") is not None for k in cell if k[0] == dataset):
      lines += ["", "FID / KID ×10³ (± its spread over subsets of half the images) of the fills "
                "against the same images' originals, Inception-v3 pool features; lower is "
                "closer. FID falls with the number of images: compare equal counts only.", "",
                "| mask | " + " | ".join(title(m) for m in have) + " |",
                "|" + "---|" * (len(have) + 1)]
      for mask_type in masks_present:
        vals = []
        for m in have:
          r = cell.get((dataset, mask_type, m))
          vals.append("—" if not r or r.get("fid") is None else
                      f"{r['fid']:.1f} / {1e3 * r['kid']:.1f} ± {1e3 * r['kid_std']:.1f}")
        lines.append(f"| {mask_type} | " + " | ".join(vals) + " |")
    lines += ["", "**The paper's claim** (PSNR misjudges: the GAN search's fills are "
              "perceptually closer where the CE wins PSNR): " + claim(rows, dataset), ""]
  return "\n".join(lines)


def write_table(workdir: str, out_dir: str, meta: dict, missing: dict[str, str],
                mask_types: Sequence[str] = masks_lib.PAPER_TYPES) -> list[dict]:
  """Writes `table1.md` and `table1.csv` to out_dir from the cells of `mask_types` in workdir."""
  rows = collect(workdir, mask_types)
  images_lib.atomic_write_bytes(os.path.join(out_dir, "table1.md"),
                              render_markdown(rows, meta, missing).encode())
  buf = io.StringIO()
  fields = ["dataset", "mask_type", "method", "images", "psnr_hole", "psnr_hole_sem",
            "psnr_whole", "ssim", "lpips", "lpips_hole", "fid", "kid", "kid_std", "paper_psnr",
            "iterations", "restarts", "seconds"]
  writer = csv.DictWriter(buf, fieldnames=fields)
  writer.writeheader()
  for r in rows:
    writer.writerow({k: ("" if r[k] is None else r[k]) for k in fields})
  images_lib.atomic_write_bytes(os.path.join(out_dir, "table1.csv"), buf.getvalue().encode())
  return rows


def load_ce_models(ce_root: str | None, dataset: str,
                   mask_types: Sequence[str] = masks_lib.PAPER_TYPES) -> dict:
  """mask type -> trained CE, from `<ce_root>/<dataset>_<mask type>` workdirs that exist; a
  type without its own may use a CE trained on a mix holding it (`<dataset>_lama` for
  LaMa's kinds, `masks.TRAINING_MIXES`)."""
  found = {}
  for mask_type in mask_types:
    mixes = [m for m, kinds in masks_lib.TRAINING_MIXES.items() if mask_type in kinds]
    for trained_on in (mask_type, *mixes):
      path = os.path.join(ce_root or "", f"{dataset}_{trained_on}")
      if ce_root and os.path.isdir(os.path.join(path, "checkpoints")):
        config, variables, fill_colour = model_files.load_context_encoder(path)
        if config.mask_type != trained_on:
          raise ValueError(f"{path} holds a CE trained on {config.mask_type!r} masks, not "
                           f"{trained_on!r}")
        found[mask_type] = (config, variables, fill_colour)
        break
  return found


def validate(config, features=None) -> Any:
  """The one check of a Table 1 config (configs/table1.py), before any work: lists given as
  'a,b' are split; ValueError naming an unknown dataset, method or mask type, a count out of
  range, or `fid` without the Inception (unless `features` stands in for it). Returns the
  config."""
  for field, known in (("datasets", DATASETS), ("methods", tuple(METHODS)),
                       ("mask_types", masks_lib.MASK_TYPES)):
    names = presets.names(config[field])
    unknown = [n for n in names if n not in known]
    if unknown or not names:
      raise ValueError(f"--config.{field}: unknown {unknown if unknown else 'empty list'}; "
                       f"choose from {', '.join(known)}")
    config[field] = names
  if config.fid and features is None and not metrics.inception_available():
    raise ValueError(f"--config.fid=true needs the Inception network: {metrics.METRICS_EXTRA}")
  for field, least in (("num_images", 0), ("batch_size", 1), ("tv_iterations", 1),
                       ("figure_images", 0), ("ablation_images", 0), ("seed", 0)):
    if config[field] < least:
      raise ValueError(f"--config.{field} must be at least {least}, got {config[field]}")
  return config


def build_runs(config) -> tuple[list[DatasetRun], dict[str, str]]:
  """(each dataset of `config.datasets` that can run: its sources, DCGAN and CEs; why each
  other dataset of the table does not run)."""
  runs, missing = [], {}
  for name in DATASETS:
    entry = config[name]
    if name not in config.datasets:
      missing[name] = f"not in --config.datasets ({','.join(config.datasets)})"
    elif not entry.checkpoint:
      missing[name] = f"no DCGAN for it (--config.{name}.checkpoint)"
    else:
      runs.append(build_run(name, entry, config))
  return runs, missing


def build_run(name: str, entry, config) -> DatasetRun:
  """A dataset's test (and, for NN, train) source, its DCGAN with the table's search and
  latent encoder where it has one, and its CEs. entry: the dataset's block of the config."""
  path = presets.model_path(entry.checkpoint)
  # The shipped encoder is loaded where there is one: the preset columns start from it.
  model_config, params = model_files.load_params(path, config.search,
                                                 presets.bundled_encoder_for(path))
  presets.use_source(model_config, entry.folder, entry.tfds_name)
  size = model_config.model.image_size
  test = sources.make_source(model_config.dataset, presets.split_of(model_config.dataset,
                                                                     entry.split), size)
  with_train = config.nearest_neighbour and "nn" in config.methods
  train = (sources.make_source(model_config.dataset, model_config.dataset.train_split, size)
           if with_train else None)
  return DatasetRun(name=name, test=test, train=train, dcgan=(params, model_config),
                    ce=load_ce_models(config.ce_root, name, config.mask_types))


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


def _check_methods_can_run(runs, config, log) -> None:
  """Says which requested method cannot run for which cell (its column stays empty there);
  ValueError, before any work, where no requested cell can run at all."""
  reasons, runnable = {}, 0
  for run in runs:
    for mask_type in config.mask_types:
      can = {m.name for m in cell_methods(run, mask_type, config)}
      runnable += len(can)
      for name in config.methods:
        if name not in can:
          reasons.setdefault((name, METHODS[name].why_not(run)), []).append(
              f"{run.name} {mask_type}")
  lines = [f"{name} cannot run for {', '.join(cells)}: {why}" for (name, why), cells in
           reasons.items()]
  if not runnable:
    raise ValueError("none of the requested cells can run: " + "; ".join(lines))
  for line in lines:
    log(f"table1: {line}; its cells stay empty")


def score_distributions(runs: Sequence[DatasetRun], workdir: str, config, features=None,
                        log=print) -> None:
  """FID and KID of every finished cell of `config` (`runner.score_distribution`) against
  the originals of its dataset's images (their features cached in <workdir>/<dataset>/)."""
  for run in runs:
    real = None
    for mask_type in config.mask_types:
      for name in config.methods:
        out = cell_dir(workdir, run.name, name, mask_type)
        s = runner.read_summary(out)
        if s is None:
          continue
        if real is None or len(real) != s["images"]:
          real = runner.real_features(run.test, s["images"], os.path.join(workdir, run.name),
                                      features)
        d = runner.score_distribution(out, real, features, config.seed)
        log(f"{run.name} {mask_type} {name}: FID {d['fid']:.2f}, KID {d['kid']:.4f} "
            f"({d['n']} images)")


def reproduce(runs: Sequence[DatasetRun], workdir: str, out_dir: str, missing: dict[str, str],
              config, log=print, features=None) -> list[dict]:
  """Runs every missing cell of `config` (configs/table1.py, `validate`d here), writes
  table1.md/.csv and the figures to out_dir; returns the rows.

  Figures: fig8_<dataset>_<mask>.png (real, input, then each method) for the first
  `figure_images` test images, fig12_<dataset>.png (CE and ours with their error images,
  hole PSNR and LPIPS) for the first test image, and for the first dataset with a DCGAN
  fig4_prior.png, fig5_blending.png and loss_curve.png on `ablation_images` images with
  the centre mask (`search_ablations`). With `config.fid`, FID and KID per cell
  (`score_distributions`; `features` replaces the Inception, for tests).
  """
  config = validate(config, features)
  mask_types, methods, num_images = config.mask_types, config.methods, config.num_images
  _check_methods_can_run(runs, config, log)
  start = time.perf_counter()
  run_cells(runs, workdir, config, log=log)
  if config.fid:
    score_distributions(runs, workdir, config, features, log)
  iterations = sorted({r.dcgan[1].search.iterations for r in runs if r.dcgan})
  restarts = sorted({r.dcgan[1].search.restarts for r in runs if r.dcgan})
  splits = {r.name: config[r.name].split for r in runs}
  named = "/".join(sorted(set(splits.values())))
  meta = {"images per cell": f"the first {num_images} of each {named} split"
                             if num_images else f"the whole {named} split",
          "latent search": f"{'/'.join(map(str, iterations))} Adam iterations, "
                           f"{'/'.join(map(str, restarts))} restart(s), Poisson blending",
          "hardware": hardware(), "masks": f"seed {config.seed}, identical for every method",
          "date": time.strftime("%Y-%m-%d"), "splits": splits}
  timings = {}
  for r in collect(workdir, mask_types):
    if r["seconds"] is not None:
      timings[r["method"]] = timings.get(r["method"], 0.0) + r["seconds"]
  meta["time"] = (f"{time.perf_counter() - start:.0f} s for this call; time recorded in the "
                  "cells (inpainting only, not CE training): "
                  + ", ".join(f"{title(m)} {timings[m]:.0f} s" for m in METHODS if m in timings))
  rows = write_table(workdir, out_dir, meta, missing, mask_types)
  log(f"wrote {os.path.join(out_dir, 'table1.md')} ({len(rows)} cells)")
  for run in runs:
    shown = min(config.figure_images, len(run.test), num_images or len(run.test))
    names = run.test.ids()[:shown]
    for mask_type in mask_types:
      cells = [(title(m), cell_dir(workdir, run.name, m, mask_type)) for m in METHODS
               if m in methods and runner.read_summary(cell_dir(workdir, run.name, m, mask_type))]
      if not cells or not names:
        continue
      picture = figures.method_grid(cells, mask_type, names)
      images_lib.save_image(os.path.join(out_dir, f"fig8_{run.name}_{mask_type}.png"), picture)
    pair = {m: {k: cell_dir(workdir, run.name, m, k) for k in mask_types} for m in ("ce", "ours")}
    both = [k for k in mask_types if all(runner.read_summary(pair[m][k]) for m in pair)]
    if names and both:
      picture = figures.error_figure([(title(m), pair[m]) for m in pair], both, names[0])
      images_lib.save_image(os.path.join(out_dir, f"fig12_{run.name}.png"), picture)
  with_model = [r for r in runs if r.dcgan is not None]
  if with_model and config.ablation_images:
    run = with_model[0]
    params, model_config = run.dcgan
    n = min(config.ablation_images, len(run.test))
    pixels = np.stack([run.test[i] for i in range(n)])
    images = images_lib.to_float(pixels)
    m = masks_lib.make_masks("center", model_config.model.image_size, config.seed,
                             images_lib.pixel_hashes(pixels))
    numbers = search_ablations(images, m, params, model_config, out_dir, config.seed,
                               dataset=run.name)
    log(f"ablations on {n} {run.name} images (center): {numbers}")
  return rows


def search_ablations(images: np.ndarray, masks: np.ndarray, params: dict,
                     config: ml_collections.ConfigDict, out_dir: str, seed: int = 0,
                     strong_prior: float = 1.0, curve_points: int = 150,
                     dataset: str = "") -> dict:
  """Fig. 4 (the prior loss: lambda = 0, the config's, `strong_prior`), Fig. 5 (G(z) pasted
  vs. Poisson-blended) and the loss curves of the search.

  images: [N, S, S, 3] in [-1, 1]; masks: [N, S, S]. Every variant starts from the same z.
  Writes fig4_prior.png, fig5_blending.png, loss_curve.png and ablations.json to out_dir;
  returns the mean hole PSNR and SSIM of each variant.
  """
  curve_stride = max(1, config.search.iterations // curve_points)
  weights = (0.0, config.search.prior_weight, strong_prior)
  runs = {}
  for weight in weights:
    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.search.prior_weight = weight
    cfg.search.curve_stride = curve_stride
    runs[weight] = inpaint_lib.inpaint(images, masks, params, cfg, seed)
  paper = runs[config.search.prior_weight]
  u8 = images_lib.to_uint8
  shown_input = u8(images_lib.masked_input(images, masks))
  pasted = np.where(masks[..., None] > 0, images, paper.generated)
  fig4 = figures.labelled_grid([("real", u8(images)), ("input", shown_input)]
                       + [(f"prior {w:g}", u8(runs[w].blended)) for w in weights])
  fig5 = figures.labelled_grid([("real", u8(images)), ("input", shown_input),
                        ("G(z) pasted", u8(pasted)), ("blended", u8(paper.blended))])
  os.makedirs(out_dir, exist_ok=True)
  images_lib.save_image(os.path.join(out_dir, "fig4_prior.png"), fig4)
  images_lib.save_image(os.path.join(out_dir, "fig5_blending.png"), fig5)
  curves = {f"total loss, λ={w:g}": runs[w].curve for w in weights}
  images_lib.atomic_write_bytes(os.path.join(out_dir, "loss_curve.png"),
                              figures.loss_curve_plot(curves, curve_stride, "context + prior loss"))
  scored = {"pasted": metrics.scores(pasted, images, masks)}
  scored.update({w: metrics.scores(runs[w].blended, images, masks) for w in weights})
  mean_psnr = lambda key: float(np.mean(scored[key]["psnr_hole"]))
  mean_ssim = lambda key: float(np.mean(scored[key]["ssim"]))
  numbers = {
      "dataset": dataset, "images": len(images), "iterations": config.search.iterations,
      "prior_weights": list(weights),
      "psnr_hole_by_prior_weight": [mean_psnr(w) for w in weights],
      "ssim_by_prior_weight": [mean_ssim(w) for w in weights],
      "final_context_loss_by_prior_weight": [float(np.mean(runs[w].losses["context"]))
                                             for w in weights],
      "psnr_hole_pasted": mean_psnr("pasted"),
      "psnr_hole_blended": mean_psnr(config.search.prior_weight),
      "ssim_pasted": mean_ssim("pasted"), "ssim_blended": mean_ssim(config.search.prior_weight),
  }
  images_lib.atomic_write_bytes(os.path.join(out_dir, "ablations.json"),
                              json.dumps(numbers, indent=2).encode())
  return numbers
