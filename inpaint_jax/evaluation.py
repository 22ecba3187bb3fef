"""Inpainting a set of images under every mask type, with pictures and PSNR/SSIM figures."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Sequence

import jax
import ml_collections
import numpy as np

from inpaint_jax import images as image_io
from inpaint_jax import input_pipeline
from inpaint_jax import inpainting
from inpaint_jax import masks as masks_lib
from inpaint_jax import metrics

HOLE_GREY = 0.0  # missing pixels are shown mid-grey (0 in [-1, 1])


@dataclasses.dataclass
class MaskTypeResult:
  """Everything about one mask type: inputs, outputs and per-image figures."""

  mask_type: str
  masks: np.ndarray  # [N, S, S]
  result: inpainting.InpaintResult
  psnr_hole: np.ndarray  # [N], blended vs original over the missing pixels (Table 1)
  psnr_whole: np.ndarray  # [N], over the whole image
  psnr_hole_generated: np.ndarray  # [N], G(ẑ) before blending, over the hole
  ssim: np.ndarray  # [N]
  seconds: float

  def summary(self) -> dict:
    return {"mask_type": self.mask_type, "images": int(len(self.masks)),
            "psnr_hole": float(np.mean(self.psnr_hole)),
            "psnr_whole": float(np.mean(self.psnr_whole)),
            "psnr_hole_generated": float(np.mean(self.psnr_hole_generated)),
            "ssim": float(np.mean(self.ssim)), "seconds": round(self.seconds, 2)}


def masked_input(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """What the method sees, for pictures: missing pixels painted grey."""
  return np.where(masks[..., None] > 0, images, HOLE_GREY)


def evaluate_mask_type(images: np.ndarray, mask_type: str, params: dict,
                       config: ml_collections.ConfigDict, seed: int = 0,
                       indices: Sequence[int] | None = None) -> MaskTypeResult:
  """Masks `images` ([N, S, S, 3] in [-1, 1]) with `mask_type`, inpaints, and scores."""
  indices = range(len(images)) if indices is None else indices
  m = masks_lib.make_masks(mask_type, images.shape[1], seed, indices)
  start = time.perf_counter()
  out = inpainting.inpaint(images, m, params, config, seed)
  seconds = time.perf_counter() - start
  hole = 1.0 - m
  return MaskTypeResult(
      mask_type=mask_type, masks=m, result=out,
      psnr_hole=np.asarray(metrics.psnr(out.blended, images, hole)),
      psnr_whole=np.asarray(metrics.psnr(out.blended, images)),
      psnr_hole_generated=np.asarray(metrics.psnr(out.generated, images, hole)),
      ssim=np.asarray(metrics.ssim(out.blended, images)), seconds=seconds)


def comparison_picture(images: np.ndarray, results: Sequence[MaskTypeResult],
                       scale: int = 2) -> np.ndarray:
  """One uint8 picture: per mask type, rows of (original, masked, G(ẑ), blended) quads."""
  rows = []
  for r in results:
    quads = np.stack([images, masked_input(images, r.masks), r.result.generated, r.result.blended],
                     axis=1)  # [N, 4, S, S, 3]
    rows.append(quads.reshape((-1,) + images.shape[1:]))
  tiles = input_pipeline.to_uint8(np.concatenate(rows))
  picture = image_io.grid(tiles, columns=4 * min(len(images), 4))
  return image_io.upscale(picture, scale)


def run_examples(images: np.ndarray, params: dict, config: ml_collections.ConfigDict,
                 out_dir: str, mask_types: Sequence[str] = masks_lib.MASK_TYPES, seed: int = 0,
                 log=print, picture_images: int = 8, ids: Sequence[str] | None = None
                 ) -> list[MaskTypeResult]:
  """Inpaints `images` under each mask type; writes `grid.png` and `summary.json` to out_dir.

  Prints one line per mask type (PSNR over the hole and the whole image, SSIM, time).
  The picture shows the first `picture_images` images; the figures cover all of them.
  """
  results = []
  log(f"inpainting {len(images)} images x {len(mask_types)} mask types, "
      f"{config.search.iterations} iterations, {config.search.restarts} restart(s), "
      f"on {jax.devices()[0].platform}")
  for kind in mask_types:
    r = evaluate_mask_type(images, kind, params, config, seed)
    s = r.summary()
    log(f"  {kind:8s} PSNR hole {s['psnr_hole']:6.2f} dB (G(z) {s['psnr_hole_generated']:6.2f})"
        f"  whole {s['psnr_whole']:6.2f} dB  SSIM {s['ssim']:.3f}  ({s['seconds']:.1f} s)")
    results.append(r)
  os.makedirs(out_dir, exist_ok=True)
  shown = [dataclasses.replace(r, masks=r.masks[:picture_images],
                               result=r.result._replace(generated=r.result.generated[:picture_images],
                                                        blended=r.result.blended[:picture_images]))
           for r in results]
  image_io.save_png(os.path.join(out_dir, "grid.png"),
                    comparison_picture(images[:picture_images], shown))
  summary = {"iterations": config.search.iterations, "restarts": config.search.restarts,
             "seed": seed, "per_mask_type": [r.summary() for r in results]}
  if ids is not None:
    summary["per_image_psnr_hole"] = {
        r.mask_type: dict(zip(map(str, ids), map(float, r.psnr_hole))) for r in results}
  image_io.atomic_write_bytes(os.path.join(out_dir, "summary.json"),
                              json.dumps(summary, indent=2).encode())
  log(f"wrote {os.path.join(out_dir, 'grid.png')} and summary.json")
  return results
