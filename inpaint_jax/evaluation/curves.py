"""Quality against time for the search settings: the paper's, and what goes beyond it
(encoder start, restart halving, generator tuning, their combinations).

Every point is one `core.inpaint.inpaint` call on the same images and masks with one
setting, timed on the wall clock minus JAX's compile time (which a long run pays once),
and scored with `metrics.scores`. A family is one kind of setting at growing budgets.

    points = curves.measure(images, masks, params, config, curves.FAMILIES, seed=0)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
from typing import Callable, Sequence

import jax
import ml_collections
import numpy as np

from inpaint_jax import model_files
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.evaluation import metrics


_FAST = search_config.PRESETS["fast"]
# name -> search settings at growing budgets (over the paper's, `configs.search.settings`).
# "encoder+mirror" is the `fast` preset (0.13), "encoder+tune" is `sharp`.
FAMILIES = {
    "paper": [dict(iterations=n) for n in (50, 150, 500, 1500)],
    "halving": [dict(restarts=8, halving_every=25, iterations=200)],
    "encoder": [dict(start=_FAST["start"], learning_rate=_FAST["learning_rate"], iterations=n)
                for n in (10, 40, 100, 300)],
    "encoder+mirror": [dict(_FAST)],
    "encoder+halving": [dict(start="encoder", restarts=4, halving_every=10, iterations=40)],
    "encoder+tune": [dict(search_config.PRESETS["sharp"])],
    "encoder+tune+mirror": [dict(search_config.PRESETS["sharp"], mirror=True)],
}
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")


class _CompileClock:
  """Seconds JAX spends tracing and compiling, from its monitoring events."""

  def __init__(self):
    self.seconds = 0.0
    jax.monitoring.register_event_duration_secs_listener(self._listen)

  def _listen(self, event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
      self.seconds += duration


_CLOCK: _CompileClock | None = None


@contextlib.contextmanager
def timed():
  """Yields a dict that gets `wall_s`, `compile_s` and `time_s` (wall minus compile)."""
  global _CLOCK
  _CLOCK = _CLOCK or _CompileClock()
  out = {}
  compile0, t0 = _CLOCK.seconds, time.perf_counter()
  yield out
  out["wall_s"] = time.perf_counter() - t0
  out["compile_s"] = _CLOCK.seconds - compile0
  out["time_s"] = max(out["wall_s"] - out["compile_s"], 0.0)


def measure_point(images: np.ndarray, masks: np.ndarray, params: dict,
                  config: ml_collections.ConfigDict, overrides: dict, seed: int = 0,
                  ids: Sequence[int] | None = None) -> dict:
  """One setting on one batch: its settings, time (`timed`), and the mean of every score
  column of `metrics.scores` (hole PSNR, SSIM, LPIPS, ...)."""
  cfg = copy.deepcopy(config)
  cfg.search = search_config.settings(None, overrides, base=config.search)
  with timed() as clock:
    out = inpaint_lib.inpaint(images, masks, params, cfg, seed, ids=ids)
  scores = metrics.scores(out.blended, images, masks)
  return {**overrides, **clock, "images": len(images),
          **{k: float(np.nanmean(v)) for k, v in scores.items()}}


def measure(images: np.ndarray, masks: np.ndarray, params: dict, config: ml_collections.ConfigDict,
            families: dict[str, Sequence[dict]], seed: int = 0, ids: Sequence[int] | None = None,
            log: Callable[[str], None] = print) -> list[dict]:
  """Every point of every family (those needing an encoder skipped when params has none),
  each family's programs compiled by an untimed run of its first setting."""
  points = []
  for name, settings in families.items():
    if settings and settings[0].get("start") == "encoder" and params.get("encoder") is None:
      continue
    # Untimed first: compiling while earlier chunks still run would hide part of the
    # compile time inside the wall time, so every program is compiled before timing.
    measure_point(images, masks, params, config, _warm_up(settings[0]), seed, ids)
    for overrides in settings:
      point = {"family": name, **measure_point(images, masks, params, config, overrides, seed, ids)}
      log(f"{name:16s} {_budget(point):28s} {point['time_s']:8.1f} s  "
          f"hole PSNR {point['psnr_hole']:.2f} dB  SSIM {point['ssim']:.3f}  "
          f"LPIPS(hole) {point['lpips_hole']:.3f}")
      points.append(point)
  return points


def measured_with(num_images: int, families: dict[str, Sequence[dict]], params: dict) -> dict:
  """What a mask's saved points were measured with: a saved entry is reused only when this
  equals its own (same images, settings, G and D, and encoder), so a retrained model or
  encoder is measured afresh rather than shown with another model's points."""
  encoder = params.get("encoder")
  return {"images": num_images, "families": json.loads(json.dumps(families)),
          "model_sha256": model_files.dcgan_fingerprint(params),
          "encoder_sha256": None if encoder is None else model_files.fingerprint(encoder)}


def _warm_up(overrides: dict) -> dict:
  """A short run that compiles every program of `overrides`: one chunk of search steps
  (as many as every halving needs) and one of tuning."""
  short = dict(overrides)
  halving = overrides.get("halving_every", 0)
  restarts = overrides.get("restarts", 1)
  short["iterations"] = min(overrides["iterations"],
                            max(10, halving * restarts.bit_length()) if halving else 10)
  if overrides.get("tune_steps"):
    short["tune_steps"] = min(overrides["tune_steps"], 10)
  return short


def _budget(point: dict) -> str:
  parts = [f"{point['iterations']} it"]
  if point.get("restarts", 1) > 1:
    parts.append(f"R={point['restarts']}/{point['halving_every']}")
  if point.get("tune_steps"):
    parts.append(f"tune {point['tune_steps']}")
  if point.get("mirror"):
    parts.append("mirror")
  return ", ".join(parts)


def reference_time(points: Sequence[dict], family: str = "paper") -> dict | None:
  """The point of `family` with the largest budget (the paper's own setting)."""
  found = [p for p in points if p["family"] == family]
  return max(found, key=lambda p: p["time_s"]) if found else None


def plot(points_by_mask: dict[str, Sequence[dict]], title: str, column: str = "psnr_hole") -> bytes:
  """PNG bytes: `column` against time per image (log scale), one panel per mask type, one
  line per family; the paper's setting is a dashed horizontal reference."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  masks = list(points_by_mask)
  fig, axes = plt.subplots(1, len(masks), figsize=(4.2 * len(masks), 3.6), dpi=110, squeeze=False)
  for ax, mask in zip(axes[0], masks):
    points = points_by_mask[mask]
    for family in dict.fromkeys(p["family"] for p in points):
      fam = sorted((p for p in points if p["family"] == family), key=lambda p: p["time_s"])
      ax.plot([1e3 * p["time_s"] / p["images"] for p in fam], [p[column] for p in fam],
              marker="o", label=family)
    ref = reference_time(points)
    if ref is not None:
      ax.axhline(ref[column], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ms per image (this CPU)")
    ax.set_title(mask)
  axes[0][0].set_ylabel({"psnr_hole": "hole PSNR (dB)"}.get(column, column))
  axes[0][-1].legend(fontsize=7)
  fig.suptitle(title)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  plt.close(fig)
  return buf.getvalue()
