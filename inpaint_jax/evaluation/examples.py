"""A few images under every mask type (the demo and `experiments/inpaint_examples.py`):
one runner cell per mask type, a picture grid, a line of figures per mask type."""

from __future__ import annotations

import os
from typing import Sequence

import jax
import numpy as np
from PIL import Image

from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.evaluation import runner

QUAD = ("original", "masked", "generated", "filled")


def picture(out_dir: str, names: Sequence[str], mask_types: Sequence[str],
            columns: int = 4, scale: int = 2) -> np.ndarray:
  """uint8 picture from the cells under out_dir: per mask type, rows of (original, masked,
  G(ẑ), filled) quads for the images `names`, `columns` quads to a row."""
  tiles = []
  for mask_type in mask_types:
    cell = os.path.join(out_dir, mask_type)
    for name in names:
      for what in QUAD:
        with Image.open(runner.image_path(cell, name, mask_type, what)) as im:
          tiles.append(np.asarray(im.convert("RGB")))
  grid = images_lib.grid(np.stack(tiles), columns=len(QUAD) * min(len(names), columns))
  return images_lib.upscale(grid, scale)


def run_examples(source, method: runner.Method, out_dir: str,
                 mask_types: Sequence[str] = masks_lib.PAPER_TYPES, seed: int = 0,
                 num_images: int | None = None, picture_images: int = 8,
                 log=print) -> list[dict]:
  """Runs `method` (usually `runner.ours`) on the first `num_images` images of `source`
  under each mask type into `out_dir/<mask type>/` (always afresh), writes
  `out_dir/grid.png` and prints a line per mask type; returns the cells' summaries."""
  n = len(source) if num_images is None else min(num_images, len(source))
  settings = method.settings
  log(f"inpainting {n} images x {len(mask_types)} mask types, "
      f"{settings.get('iterations', '?')} iterations from {settings.get('start', 'random')} start, "
      f"{settings.get('restarts', '?')} restart(s)"
      + (f", {settings['tune_steps']} tuning steps" if settings.get("tune_steps") else "")
      + f", on {jax.devices()[0].platform}")
  summaries = []
  for mask_type in mask_types:
    s = runner.run_cell(source, method, os.path.join(out_dir, mask_type), mask_type, seed=seed,
                        batch_size=max(n, 1), num_images=n, progress=False, fresh=True)
    log(f"  {mask_type:8s} {runner.summary_line(s)}")
    summaries.append(s)
  names = source.ids()[:min(picture_images, n)]
  grid_path = os.path.join(out_dir, "grid.png")
  images_lib.save_image(grid_path, picture(out_dir, names, mask_types))
  log(f"wrote {grid_path} and a results.csv / summary.json per mask type")
  return summaries
