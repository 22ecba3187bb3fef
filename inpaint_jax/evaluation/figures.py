"""The paper's figures, drawn from results: method comparison grids (Fig. 8), error images
(Fig. 12), loss curves; the ablation searches of Figs. 4 and 5 run in `table1`."""

from __future__ import annotations

import csv
import io
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inpaint_jax.data import images as images_lib
from inpaint_jax.evaluation import runner


def labelled_grid(columns: Sequence[tuple[str, np.ndarray]], scale: int = 2,
                  pad: int = 2) -> np.ndarray:
  """uint8 picture: one column per (title, uint8 [N, H, W, 3]) with the title on top."""
  tiles = np.stack([c[1] for c in columns], axis=1).reshape((-1,) + columns[0][1].shape[1:])
  body = images_lib.upscale(images_lib.grid(tiles, columns=len(columns), pad=pad), scale)
  cell = (columns[0][1].shape[2] + pad) * scale
  font = ImageFont.load_default(size=max(10, 7 * scale))
  header = Image.new("RGB", (body.shape[1], 12 * scale + 6), "white")
  draw = ImageDraw.Draw(header)
  for k, (title, _) in enumerate(columns):
    width = draw.textlength(title, font=font)
    draw.text((pad * scale + k * cell + (cell - width) / 2, 3), title, fill="black", font=font)
  return np.concatenate([np.asarray(header), body], axis=0)


def _read_png(path: str) -> np.ndarray:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"missing picture {path}: was that cell run with images written?")
  return np.asarray(Image.open(path).convert("RGB"))


def method_grid(cells: Sequence[tuple[str, str]], mask_type: str,
                names: Sequence[str]) -> np.ndarray:
  """Fig. 8: per image a row of real, input, then each cell's fill.

  cells: (column title, runner cell folder) per method; the first one also gives the
  real and masked pictures. names: the images to show (as in the source's `ids()`).
  """
  paths = lambda cell, what: [runner.image_path(cell, n, mask_type, what) for n in names]
  first = cells[0][1]
  columns = [("real", paths(first, "original")), ("input", paths(first, "masked"))]
  columns += [(title, paths(cell, "filled")) for title, cell in cells]
  return labelled_grid([(t, np.stack([_read_png(p) for p in ps])) for t, ps in columns])


def _cell_row(cell: str, name: str) -> dict[str, str]:
  with open(os.path.join(cell, "results.csv"), newline="") as f:
    for row in csv.DictReader(f):
      if row["id"] == name:
        return row
  raise ValueError(f"{cell}/results.csv has no image {name!r}")


def error_figure(cells: Sequence[tuple[str, dict[str, str]]], mask_types: Sequence[str],
                 name: str) -> np.ndarray:
  """Fig. 12: for one image, a row per mask type: real, input, then per method its fill
  (titled with its hole PSNR) and its error |fill - real| x 2 (titled with LPIPS over the
  hole's box). cells: (method title, {mask type: runner cell folder})."""
  rows = []
  for mask_type in mask_types:
    first = cells[0][1][mask_type]
    columns = [("real", _read_png(runner.image_path(first, name, mask_type, "original"))),
               (f"input: {mask_type}", _read_png(runner.image_path(first, name, mask_type,
                                                                   "masked")))]
    for title, by_mask in cells:
      scores = _cell_row(by_mask[mask_type], name)
      fill = _read_png(runner.image_path(by_mask[mask_type], name, mask_type, "filled"))
      error = np.clip(2 * np.abs(fill.astype(int) - columns[0][1].astype(int)), 0, 255)
      columns += [(f"{title} {float(scores['psnr_hole']):.1f} dB", fill),
                  (f"x2 err, LPIPS {float(scores['lpips_hole']):.3f}", error.astype(np.uint8))]
    rows.append(labelled_grid([(t, a[None]) for t, a in columns]))
  return np.concatenate(rows, axis=0)


def loss_curve_plot(curves: dict[str, np.ndarray], stride: int, ylabel: str = "loss") -> bytes:
  """PNG bytes: mean (bold) and per-image (faint) curves, one colour and dash per entry [B, T]."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
  styles = (("tab:blue", "-"), ("tab:orange", "--"), ("tab:green", ":"), ("tab:red", "-."))
  for (label, curve), (colour, dash) in zip(curves.items(), styles):
    steps = np.arange(curve.shape[1]) * stride
    for row in curve:
      ax.plot(steps, row, color=colour, alpha=0.12, linewidth=0.8)
    ax.plot(steps, curve.mean(axis=0), color=colour, linestyle=dash, linewidth=2, label=label)
  ax.set_xlabel("Adam iteration")
  ax.set_ylabel(ylabel)
  if all((c > 0).all() for c in curves.values()):
    ax.set_yscale("log")
  ax.set_title("Latent search (faint: single images, bold: mean)")
  ax.legend()
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  plt.close(fig)
  return buf.getvalue()
