"""Inpainting a whole split: sharded over all local devices, streaming, resumable.

Work is cut into fixed batches of consecutive images (batch k = images [kB, (k+1)B)). For
each finished batch the PNGs are written (each atomically), then one rows file
`rows/batch_XXXXXX.csv` is written atomically: it is the manifest entry saying the batch
is done. A run killed at any moment and started again skips batches whose rows file
exists and redoes the rest, so no image is lost and none appears twice. At the end the
rows files are merged, in order, into `results.csv` and `summary.json`.

Everything about an image depends only on (seed, its index): its mask and, through the
batch's key, its starting z. Results do not depend on the device count: the batch is
sharded along its first axis over a 1-D mesh of the local devices, and G and D run with
running statistics, so each image's computation is independent of the others.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
from tqdm import tqdm

from inpaint_jax import blend
from inpaint_jax import images as image_io
from inpaint_jax import input_pipeline
from inpaint_jax import masks as masks_lib
from inpaint_jax import metrics
from inpaint_jax import search as search_lib

COLUMNS = ("index", "id", "mask_type", "seed", "psnr_whole", "psnr_hole", "psnr_hole_generated",
           "ssim", "context_loss", "prior_loss", "total_loss")


def _data_sharding():
  mesh = Mesh(np.array(jax.local_devices()), ("data",))
  return NamedSharding(mesh, P("data")), len(jax.local_devices())


def _blend_per_device(y, generated, m, cfg):
  """Poisson blend with each device solving its own shard: a vmapped CG loop tests
  convergence over the whole batch, which sharded would cost an all-reduce per CG
  iteration; per shard it costs none, and per-image results are the same."""
  mesh = y.sharding.mesh
  fn = jax.shard_map(lambda a, b, c: blend.poisson_blend(a, b, c, cfg.blend_tol, cfg.blend_maxiter),
                     mesh=mesh, in_specs=(P("data"),) * 3, out_specs=P("data"),
                     check_vma=False)  # cg's internals are not annotated for it
  return fn(y, generated, m)


def _rows_path(out_dir: str, batch: int) -> str:
  return os.path.join(out_dir, "rows", f"batch_{batch:06d}.csv")


def inpaint_batch(images: np.ndarray, masks: np.ndarray, params: dict,
                  config: ml_collections.ConfigDict, key: jax.Array) -> dict:
  """Search + blend + metrics for one batch, the batch axis sharded over local devices.

  images: [B, S, S, 3] in [-1, 1]; masks: [B, S, S]. B is padded to a multiple of the
  device count by repeating the last image; padded results are dropped.
  """
  sharding, ndev = _data_sharding()
  b = len(images)
  pad = (-b) % ndev
  if pad:
    images = np.concatenate([images, np.repeat(images[-1:], pad, 0)])
    masks = np.concatenate([masks, np.repeat(masks[-1:], pad, 0)])
  cfg = config.search
  z0 = search_lib.initial_z(key, len(images), cfg.restarts, config.model.z_dim)
  put = lambda a: jax.device_put(jnp.asarray(a, jnp.float32), sharding)
  y, m = put(images), put(masks)
  res = search_lib.search(params["generator"], params["discriminator"], y, m, None, config.model,
                          cfg, z0=put(z0))
  out = _blend_per_device(y, res.generated, m, cfg) if cfg.blend \
      else jnp.where(m[..., None] > 0, y, res.generated)
  hole = 1.0 - m
  result = {
      "blended": out, "generated": res.generated,
      "psnr_whole": metrics.psnr(out, y), "psnr_hole": metrics.psnr(out, y, hole),
      "psnr_hole_generated": metrics.psnr(res.generated, y, hole), "ssim": metrics.ssim(out, y),
      "context_loss": res.context_loss, "prior_loss": res.prior_loss, "total_loss": res.total_loss,
  }
  return {k: np.asarray(jax.device_get(v))[:b] for k, v in result.items()}


def _batch_key(seed: int, batch: int) -> jax.Array:
  return jax.random.fold_in(jax.random.PRNGKey(seed), batch)


def run_split(source, params: dict, config: ml_collections.ConfigDict, out_dir: str,
              mask_type: str, seed: int = 0, batch_size: int = 64, num_images: int | None = None,
              write_images: bool = True, process_index: int = 0, process_count: int = 1,
              progress: bool = True) -> dict:
  """Inpaints the first `num_images` images of `source` (all if None) with `mask_type`.

  Writes under out_dir: `images/<id>_{original,masked,generated,blended}.png`,
  `rows/batch_*.csv` (the manifest), and, from process 0 once every batch is done,
  `results.csv` and `summary.json`. With several processes (jax.distributed), process p
  takes batches p, p + count, ... Returns the summary (or the progress of this process).
  """
  n = len(source) if num_images is None else min(num_images, len(source))
  ids = source.ids()
  batches = [k for k in range((n + batch_size - 1) // batch_size) if k % process_count == process_index]
  todo = [k for k in batches if not os.path.exists(_rows_path(out_dir, k))]
  os.makedirs(os.path.join(out_dir, "rows"), exist_ok=True)
  size = config.model.image_size
  start = time.perf_counter()
  done_images = 0
  with tqdm(total=sum(min(batch_size, n - k * batch_size) for k in todo), unit="img",
            desc=f"{mask_type}", disable=not progress) as bar:
    if len(todo) < len(batches):
      bar.write(f"resuming: {len(batches) - len(todo)} of {len(batches)} batches already done")
    for k in todo:
      idx = np.arange(k * batch_size, min((k + 1) * batch_size, n))
      images = input_pipeline.to_float(np.stack([source[int(i)] for i in idx]))
      m = masks_lib.make_masks(mask_type, size, seed, idx)
      r = inpaint_batch(images, m, params, config, _batch_key(seed, k))
      if write_images:
        shown = {"original": images, "masked": np.where(m[..., None] > 0, images, 0.0),
                 "generated": r["generated"], "blended": r["blended"]}
        for j, i in enumerate(idx):
          stem = os.path.splitext(str(ids[i]))[0]
          for name, arr in shown.items():
            image_io.save_png(os.path.join(out_dir, "images", f"{stem}_{mask_type}_{name}.png"),
                              input_pipeline.to_uint8(arr[j]))
      buf = io.StringIO()
      writer = csv.writer(buf)
      for j, i in enumerate(idx):
        writer.writerow([int(i), ids[i], mask_type, masks_lib.mask_seed(seed, int(i))]
                        + [f"{float(r[c][j]):.6g}" for c in COLUMNS[4:]])
      image_io.atomic_write_bytes(_rows_path(out_dir, k), buf.getvalue().encode())
      done_images += len(idx)
      bar.update(len(idx))
      bar.set_postfix(img_s=f"{done_images / (time.perf_counter() - start):.2f}")
  all_batches = range((n + batch_size - 1) // batch_size)
  summary_file = os.path.join(out_dir, "summary.json")
  if not todo and process_index == 0 and os.path.isfile(summary_file):
    with open(summary_file) as f:
      summary = json.load(f)
    if summary.get("images") == n:  # finished earlier: keep its record (and its timing)
      return summary
  if process_index != 0 or not all(os.path.exists(_rows_path(out_dir, k)) for k in all_batches):
    return {"images_done_here": done_images}
  return merge_rows(out_dir, n, batch_size, mask_type, seed, config, time.perf_counter() - start)


def write_results(out_dir: str, columns: tuple[str, ...], rows: list[list], info: dict,
                  first_score: int = 4) -> dict:
  """Writes results.csv (header `columns`, then `rows`) and summary.json (`info` plus the
  mean of every score column, those from index `first_score` on), both atomically."""
  buf = io.StringIO()
  writer = csv.writer(buf)
  writer.writerow(columns)
  writer.writerows(rows)
  image_io.atomic_write_bytes(os.path.join(out_dir, "results.csv"), buf.getvalue().encode())
  cols = {c: np.array([float(r[i]) for r in rows]) for i, c in enumerate(columns) if i >= first_score}
  summary = {**info, "images": len(rows),
             **{f"mean_{c}": float(np.mean(v[np.isfinite(v)])) for c, v in cols.items()}}
  image_io.atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                              json.dumps(summary, indent=2).encode())
  return summary


def merge_rows(out_dir: str, num_images: int, batch_size: int, mask_type: str, seed: int,
               config: ml_collections.ConfigDict, seconds: float) -> dict:
  """Merges the rows files into results.csv and summary.json (atomically)."""
  rows = []
  for k in range((num_images + batch_size - 1) // batch_size):
    with open(_rows_path(out_dir, k), newline="") as f:
      rows.extend(csv.reader(f))
  info = {"mask_type": mask_type, "seed": seed,
          "iterations": config.search.iterations, "restarts": config.search.restarts,
          "devices": jax.device_count(), "platform": jax.devices()[0].platform,
          "device_kind": jax.devices()[0].device_kind,
          "seconds_last_session": round(seconds, 1)}
  return write_results(out_dir, COLUMNS, rows, info)
