"""The validation sweep: its rules on hand-made results, a real (tiny) measurement, and the
shipped presets as the rules' choice on the committed sweep."""

import json
import os

import jax
import ml_collections
import numpy as np
import pytest

from inpaint_jax.configs import search as search_config
from inpaint_jax.configs import sweep as sweep_config
from inpaint_jax.configs import tiny
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.evaluation import sweep
from inpaint_jax.models import dcgan

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _result(psnr, seconds, n=4, lpips=0.1):
  return {"images": n, "s_per_image": seconds, "psnr_hole": [psnr] * n,
          "lpips_hole": [lpips] * n, "psnr_whole": [psnr + 5] * n, "ssim": [0.9] * n}


def _results(table):
  """cell -> candidate -> result from {candidate: (seconds, [psnr per cell][, lpips])}."""
  cells = ("a/center", "a/half")
  return {c: {name: _result(v[1][i], v[0], n=2 if name == "paper" else 4,
                            lpips=v[2] if len(v) > 2 else 0.1)
              for name, v in table.items()} for i, c in enumerate(cells)}


def test_the_rules_pick_the_presets_off_the_front():
  results = _results({
      "paper": (5.0, [20.0, 15.0]),
      "e10": (0.02, [20.5, 14.9]),  # below the paper on half: cannot be fast
      "e20": (0.04, [20.1, 15.0]),  # the fastest at or above the paper everywhere: fast
      "e40": (0.10, [20.6, 15.4]),
      "e40m": (0.20, [21.0, 15.8]),
      "e80m": (0.40, [21.5, 15.7]),  # the best mean within 20 x fast at or above it: quality
      "t": (0.70, [20.5, 15.1], 0.05),  # lowest LPIPS, above the paper and fast's LPIPS: sharp
      "slow": (3.0, [23.0, 17.0], 0.01),  # beyond 20 x fast's time
  })
  chosen = sweep.choose(results, quality_factor=20)
  assert chosen == {"fast": "e20", "quality": "e80m", "sharp": "t"}
  assert sweep.check_front(results, chosen) == []
  assert sweep.default_preset(results, chosen, 0.25) == "fast"  # quality is over 0.25 s
  assert sweep.default_preset(results, chosen, 0.5) == "quality"
  # A preset that loses to a faster one on a cell, by its own criterion, is reported.
  assert sweep.check_front(results, {"fast": "e40", "quality": "e80m", "sharp": "e40m"}) == [
      "quality (e80m) loses to the faster sharp (e40m) on psnr_hole"]
  # The paper compared on its own images only: fast is judged on the paper's first 2.
  results["a/half"]["e20"]["psnr_hole"] = [15.0, 15.0, 10.0, 10.0]
  assert sweep.choose(results, 20)["fast"] == "e20"
  # Nothing at or above the paper: no preset is named.
  low = _results({"paper": (5.0, [30.0, 30.0]), "e10": (0.02, [20.0, 15.0])})
  assert sweep.choose(low, 20) == {"fast": None, "quality": None, "sharp": None}
  text = sweep.table(results, chosen)
  assert "| e80m | quality |" in text and "(n=2)" in text
  assert sweep.plot(results, chosen, "t")[:4] == b"\x89PNG"


def test_a_sweep_measures_each_candidate_once_on_the_same_images(tmp_path):
  config = tiny.get_config()
  config.search.blend_maxiter = 20
  g_vars, d_vars = dcgan.init_variables(config.model, jax.random.PRNGKey(0))
  params = {"generator": g_vars, "discriminator": d_vars}
  images = np.random.default_rng(0).uniform(-1, 1, (5, 32, 32, 3)).astype(np.float32)
  ids = np.arange(5)
  loads = []

  def loader(kind):
    def load():
      loads.append(kind)
      return images, masks_lib.make_masks(kind, 32, 0, ids), ids, params, config
    return load
  cells = {"tiny/center": loader("center"), "tiny/thick": loader("thick")}
  table = {"paper": dict(iterations=6), "short": dict(iterations=2)}
  sc = sweep_config.get_config()
  sc.paper_images, sc.batch_size = 2, 4
  saved = []
  done = sweep.run(cells, ("paper", "short"), sc, {}, saved.append, log=lambda *_: None,
                   table=table)
  assert len(saved) == 4 and sorted(loads) == ["center", "thick"]
  loads.clear()
  r = done["tiny/center"]["candidates"]
  assert r["paper"]["images"] == 2 and len(r["paper"]["psnr_hole"]) == 2
  assert r["short"]["images"] == 5 and r["short"]["s_per_image"] > 0
  assert all(np.isfinite(r["short"]["psnr_hole"]))
  # Measured again: nothing to do while the key holds.
  done = sweep.run(cells, ("paper", "short"), sc, json.loads(json.dumps(done)), saved.append,
                   log=lambda *_: None, table=table)
  assert len(saved) == 4 and len(loads) == 2  # loaded to check the key, nothing measured
  sc.seed = 1  # another key: the cell is measured afresh
  sweep.run(cells, ("short",), sc, done, saved.append, log=lambda *_: None, table=table)
  assert len(saved) == 6


def test_the_shipped_presets_are_the_rules_choice_on_the_committed_validation_sweep():
  path = os.path.join(REPO, "results", "sweep", "validation.json")
  with open(path) as f:
    done = json.load(f)
  config = sweep_config.get_config()
  assert all(e["key"]["split"] == "validation" for e in done.values())
  cells = [f"{d}/{m}" for d in config.datasets for m in config.mask_types]
  assert sorted(done) == sorted(cells)
  results = sweep.results_of(done, config.candidates)
  chosen = sweep.choose(results, config.quality_factor)
  assert sweep.check_front(results, chosen) == []
  # Every preset but the paper's is a rule's choice; a rule that chose nothing names none.
  named = {k: sweep.CANDIDATES[v] for k, v in chosen.items() if v}
  assert {k: v for k, v in search_config.PRESETS.items() if k != "paper"} == named
  assert search_config.PRESETS["paper"] == sweep.CANDIDATES["paper"]
  assert search_config.DEFAULT_PRESET == sweep.default_preset(results, chosen, config.budget_s)
