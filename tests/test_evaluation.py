import json

import jax
import numpy as np
from PIL import Image

from inpaint_jax import model_files
from inpaint_jax.configs import tiny
from inpaint_jax.data import sources
from inpaint_jax.evaluation import examples
from inpaint_jax.evaluation import runner
from inpaint_jax.models import dcgan as models


def test_run_examples_writes_grid_and_one_cell_per_mask_type(tmp_path):
  config = tiny.get_config()
  config.search.iterations = 5
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  source = sources.ArraySource(pixels, ["a.png", "b.png"])
  method = runner.ours({"generator": g_vars, "discriminator": d_vars}, config)
  lines = []
  summaries = examples.run_examples(source, method, str(tmp_path), log=lines.append)
  assert [s["mask_type"] for s in summaries] == ["center", "pattern", "random", "half"]
  assert any("PSNR hole" in l and "center" in l and "LPIPS" in l for l in lines)
  grid = np.asarray(Image.open(tmp_path / "grid.png"))
  # One row of (original, masked, G, blended) per mask type: 2 images side by side.
  assert grid.shape == (2 * (4 * 34 + 2), 2 * (8 * 34 + 2), 3)
  for s in summaries:
    cell = tmp_path / s["mask_type"]
    assert json.loads((cell / "summary.json").read_text()) == s
    assert s["settings"]["iterations"] == 5 and s["images"] == 2
    assert np.isfinite(s["mean_psnr_hole"])
    # The standard error of each mean, from the CSV's own column (ddof = 1, two images).
    with open(cell / "results.csv") as f:
      header, *rows = [line.rstrip("\n").split(",") for line in f]
    a, b = (float(r[header.index("psnr_hole")]) for r in rows)
    assert abs(s["sem_psnr_hole"] - abs(a - b) / 2) < 1e-5
    assert abs(s["mean_psnr_hole"] - (a + b) / 2) < 1e-5
    # Known pixels are the input's, bit for bit, in the written result.
    filled = np.asarray(Image.open(runner.image_path(str(cell), "b.png", s["mask_type"], "filled")))
    masked = np.asarray(Image.open(runner.image_path(str(cell), "b.png", s["mask_type"], "masked")))
    known = masked != 128  # the hole is painted mid-grey
    assert np.array_equal(filled[known.all(-1)], pixels[1][known.all(-1)])


def test_exported_model_round_trip_and_old_configs_load(tmp_path):
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  path = str(tmp_path / "model.msgpack")
  model_files.export_model(path, config, g_vars, d_vars)
  loaded, g2, d2 = model_files.load_model(path)
  assert loaded.model.ngf == 8 and loaded.search.iterations == 1500
  for a, b in zip(jax.tree.leaves(g_vars), jax.tree.leaves(g2)):
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)  # float16 storage
  old = config.to_dict()
  del old["search"]
  merged = model_files.merge_with_defaults(old)
  assert merged.search.prior_weight == 0.003 and merged.model.ngf == 8


def test_mean_and_sem_by_hand_and_the_summary_line():
  # [1, 2, 3, 6]: mean 3, sample variance (4 + 1 + 0 + 9) / 3 = 14/3, SEM sqrt(14/3 / 4).
  mean, sem = runner.mean_and_sem(np.array([1.0, 2.0, np.nan, 3.0, 6.0, np.inf]))
  assert mean == 3.0 and abs(sem - np.sqrt(14 / 12)) < 1e-12
  assert np.isnan(runner.mean_and_sem(np.array([4.0]))[1])
  assert all(np.isnan(runner.mean_and_sem(np.array([np.nan]))))
  line = runner.summary_line({"mean_psnr_hole": 13.264, "sem_psnr_hole": 0.271,
                              "mean_psnr_whole": 16.3, "mean_ssim": 0.67, "mean_lpips": 0.09,
                              "mean_lpips_hole": 0.158, "images": 100,
                              "seconds_last_session": 624.0})
  assert "PSNR hole  13.26 ± 0.27 dB" in line and "(100 images, 624.0 s)" in line
