"""Table 1 end to end with tiny models on generated images: every method's cell, the
markdown and CSV, the figures; cells are cached and the missing dataset is marked."""

import csv
import json
import os

import jax
import numpy as np
import pytest

from conftest import write_images
from inpaint_jax.configs import context_encoder as ce_config
from inpaint_jax.configs import table1 as table1_config
from inpaint_jax.configs import tiny
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources as ip
from inpaint_jax.evaluation import baselines
from inpaint_jax.evaluation import metrics
from inpaint_jax.evaluation import runner
from inpaint_jax.evaluation import table1
from inpaint_jax.models import dcgan as models
from inpaint_jax.train import context_encoder as ce_train


def _tiny_ce(source, workdir):
  config = ce_config.get_config("celeba,center")
  config.model.nf, config.model.ndf, config.model.image_size = 8, 8, 32
  config.batch_size, config.num_steps, config.fill_colour_images = 4, 2, 4
  config.checkpoint_every, config.progress_bar = 2, False
  ce_train.train_and_evaluate(config, workdir, source=source)


def test_fill_method_cell_scores_every_image_and_is_cached(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 5, size=(32, 32))
  source = ip.FolderSource(folder, "all", ip.CropRule("none", 1.0, 32))
  out = str(tmp_path / "cell")
  method = runner.one_shot("mean", baselines.mean_fill)
  s = runner.run_cell(source, method, out, "random", seed=3, num_images=4, batch_size=3,
                      progress=False)
  with open(os.path.join(out, "results.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  assert [r["id"] for r in rows] == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
  # Image 2's mask, drawn independently from its pixels and the seed, and its PSNR by hand.
  x = source[2].astype(np.float32)[None] / 127.5 - 1.0
  pixel_hash = int(np.frombuffer(__import__("hashlib").sha256(source[2].tobytes()).digest()[:4],
                                 "<u4")[0]) & 0x7FFFFFFF
  assert int(rows[2]["pixel_hash"]) == pixel_hash
  m = masks_lib.make_mask("random", 32, masks_lib.mask_seed(3, pixel_hash))[None]
  filled = baselines.mean_fill(x, m)
  filled = np.round((np.clip(filled, -1, 1) + 1) * 127.5) / 127.5 - 1  # scored as written: 8 bits
  mse = ((filled - x) ** 2 * 127.5 ** 2)[(1 - m).astype(bool)].mean()
  assert float(rows[2]["psnr_hole"]) == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-3)
  assert float(rows[2]["lpips"]) == pytest.approx(metrics.lpips(filled, x)[0], rel=1e-4)
  assert s["images"] == 4 and s["method"] == "mean"
  assert os.path.isfile(os.path.join(out, "images", "000004_random_filled.png"))
  stamp = os.path.getmtime(os.path.join(out, "summary.json"))
  runner.run_cell(source, method, out, "random", seed=3, num_images=4, batch_size=3,
                  progress=False)
  assert os.path.getmtime(os.path.join(out, "summary.json")) == stamp  # cached, not redone
  with pytest.raises(ValueError, match="other settings .*seed 3 there, 4 now"):
    runner.run_cell(source, method, out, "random", seed=4, num_images=4, batch_size=3,
                    progress=False)


def test_a_finished_cell_from_before_lpips_gets_it_from_its_pictures(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 5, size=(32, 32))
  source = ip.FolderSource(folder, "all", ip.CropRule("none", 1.0, 32))
  out = str(tmp_path / "cell")
  method = runner.one_shot("mean", baselines.mean_fill)
  run = lambda: runner.run_cell(source, method, out, "center", num_images=5, batch_size=2,
                                progress=False)
  want = run()
  results = os.path.join(out, "results.csv")
  with open(results, newline="") as f:
    rows = list(csv.DictReader(f))
  old = [c for c in rows[0] if not c.startswith("lpips")]  # the cell as 0.2 wrote it
  with open(results, "w", newline="") as f:
    writer = csv.DictWriter(f, old, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  summary = {k: v for k, v in runner.read_summary(out).items() if "lpips" not in k}
  with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f)
  got = run()
  # From the 8-bit pictures rather than the float fills: equal to well within a rounding.
  assert got["mean_lpips"] == pytest.approx(want["mean_lpips"], rel=2e-2)
  assert got["mean_lpips_hole"] == pytest.approx(want["mean_lpips_hole"], rel=2e-2)
  assert got["mean_psnr_hole"] == want["mean_psnr_hole"]
  with open(results, newline="") as f:
    again = list(csv.DictReader(f))
  assert list(again[0]) == list(rows[0]) and len(again) == 5


def test_reproduce_end_to_end_with_tiny_models(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 10, size=(32, 32))
  rule = ip.CropRule("none", 1.0, 32)
  test = ip.FolderSource(folder, "range:000001:000004", rule)
  train = ip.FolderSource(folder, "range:000005:000010", rule)
  config = tiny.get_config()
  config.search.iterations = 6
  config.search.blend_maxiter = 50
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  ce_root = str(tmp_path / "ce")
  _tiny_ce(train, os.path.join(ce_root, "celeba_center"))
  run = table1.DatasetRun("celeba", test, train,
                          ({"generator": g_vars, "discriminator": d_vars}, config),
                          table1.load_ce_models(ce_root, "celeba"))
  assert sorted(run.ce) == ["center"]  # no CE for the random mask: its cell stays empty
  workdir, out = str(tmp_path / "work"), str(tmp_path / "out")
  missing = {"svhn": "no SVHN here", "cars": "no cars here"}
  table = table1_config.get_config()
  table.mask_types, table.num_images, table.batch_size = ("center", "random"), 4, 2
  table.figure_images, table.ablation_images = 3, 2
  rows = table1.reproduce([run], workdir, out, missing, table, log=lambda *_: None)
  cells = {(r["mask_type"], r["method"]) for r in rows}
  expected = {("center", m) for m in ("ce", "ours", "tv", "nn")} | {("random", m)
                                                                    for m in ("ours", "tv", "nn")}
  if baselines.telea_available():
    expected |= {("center", "telea"), ("random", "telea")}
  if baselines.biharmonic_available():
    expected |= {("center", "biharmonic"), ("random", "biharmonic")}
  assert cells == expected
  assert all(r["images"] == 4 for r in rows)
  ours = next(r for r in rows if r["method"] == "ours" and r["mask_type"] == "center")
  assert ours["paper_psnr"] == 19.4 and ours["iterations"] == 6

  with open(os.path.join(out, "table1.csv"), newline="") as f:
    csv_rows = list(csv.DictReader(f))
  assert len(csv_rows) == len(rows)
  text = open(os.path.join(out, "table1.md")).read()
  assert "Not run: no SVHN here." in text and "Not run: no cars here." in text
  assert "(21.3)" in text and "(19.4)" in text  # the paper's CelebA center, CE and ours
  assert text.count("**The paper's claim**") == 1  # one sentence for the one dataset run
  assert "LPIPS over the hole's bounding box" in text
  assert all(r["lpips"] is not None and r["lpips"] >= 0 for r in rows)
  for name in ("fig8_celeba_center.png", "fig8_celeba_random.png", "fig12_celeba.png",
               "fig4_prior.png",
               "fig5_blending.png", "loss_curve.png", "ablations.json"):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  from PIL import Image  # pylint: disable=g-import-not-at-top
  grid = Image.open(os.path.join(out, "fig8_celeba_center.png"))
  # 3 rows of 2x-scaled 32 px tiles plus a title strip; real, input + 5 methods (or 4 w/o Telea).
  assert grid.size[1] > 3 * 64 and grid.size[0] >= 6 * 64


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_entry_points_train_a_ce_and_build_the_table(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from inpaint_jax import model_files  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path / "imgs")
  write_images(folder, 6, size=(32, 32))
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(tmp_path / "tiny.msgpack")
  model_files.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  ce_dir = str(tmp_path / "ce" / "cars_half")
  run = lambda args: subprocess.run([sys.executable] + args, capture_output=True, text=True,
                                    cwd=REPO, timeout=600)
  r = run(["experiments/train_context_encoder.py",
           "--config=inpaint_jax/configs/context_encoder.py:cars,half", f"--workdir={ce_dir}",
           f"--config.dataset.folder={folder}", "--config.dataset.train_split=all",
           "--config.model.nf=8", "--config.model.ndf=8", "--config.model.image_size=32",
           "--config.batch_size=2", "--config.num_steps=2", "--config.checkpoint_every=2",
           "--config.progress_bar=false"])
  assert r.returncode == 0, r.stderr[-2000:]
  out = str(tmp_path / "out")
  r = run(["experiments/reproduce_table1.py", "--config=inpaint_jax/configs/table1.py",
           "--config.datasets=cars", f"--config.cars.folder={folder}",
           "--config.cars.split=all", f"--config.cars.checkpoint={model}",
           f"--config.ce_root={tmp_path / 'ce'}", f"--workdir={tmp_path / 'work'}",
           f"--out={out}", "--config.num_images=2", "--config.search.iterations=3",
           "--config.mask_types=half", "--config.methods=ce,ours,tv", "--config.batch_size=2"])
  assert r.returncode == 0, r.stderr[-2000:]
  text = open(os.path.join(out, "table1.md")).read()
  assert "## Stanford Cars (2 images per cell, split: all)" in text  # the split it ran on
  assert "- images per cell: the first 2 of each all split" in text
  assert "Not run: not in --config.datasets (cars)." in text
  assert "(12.6)" in text  # the paper's CE on Cars, half
  with open(os.path.join(out, "table1.csv"), newline="") as f:
    methods = sorted(r["method"] for r in csv.DictReader(f))
  assert methods == ["ce", "ours", "tv"]


def test_reproduce_rejects_unknown_methods(tmp_path):
  table = table1_config.get_config()
  table.methods = ("ours", "poisson")
  with pytest.raises(ValueError, match=r"--config.methods: unknown \['poisson'\]"):
    table1.reproduce([], str(tmp_path), str(tmp_path), {}, table)
  table.methods, table.mask_types = ("ours,tv",), ("center,half",)  # as --config.x=a,b gives
  assert table1.validate(table).methods == ("ours", "tv")
  assert table.mask_types == ("center", "half")


def test_the_claim_sentence_says_what_the_numbers_say():
  def row(mask, method, psnr, lp):
    return {"dataset": "cars", "mask_type": mask, "method": method, "psnr_hole": psnr,
            "lpips_hole": lp}
  rows = [row("center", "ce", 20.0, 0.10), row("center", "ours", 19.0, 0.05),
          row("half", "ce", 15.0, 0.20), row("half", "ours", 13.0, 0.30),
          row("random", "ce", 18.0, 0.30), row("random", "ours", 22.0, 0.10)]
  text = table1.claim(rows, "cars")
  assert "wins hole PSNR on center, half" in text and "on 1 of them" in text
  assert "holds on center only" in text
  assert "holds (" in table1.claim(rows[:2], "cars")
  assert "does not hold" in table1.claim(rows[2:4], "cars")
  assert "not tested" in table1.claim(rows[4:], "cars")


def _toy_features(pixels):
  """A stand-in for the Inception: 4x4 mean-pooled colours, [N, 48]."""
  p = np.asarray(pixels, np.float64)
  n, s = p.shape[0], p.shape[1]
  return p.reshape(n, 4, s // 4, 4, s // 4, 3).mean(axis=(2, 4)).reshape(n, -1)


def test_fid_and_kid_of_a_cell_against_its_originals_cached_until_its_results_change(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 8, size=(32, 32))
  source = ip.FolderSource(folder, "all", ip.CropRule("none", 1.0, 32))
  out = str(tmp_path / "cell")
  runner.run_cell(source, runner.one_shot("mean", baselines.mean_fill), out, "thick", seed=1,
                  num_images=8, batch_size=4, progress=False)
  calls = []
  counted = lambda p: calls.append(len(p)) or _toy_features(p)
  real = runner.real_features(source, 8, str(tmp_path / "work"), counted)
  d = runner.score_distribution(out, real, counted, seed=0)
  # The reference: the same numbers from the pictures and the originals by hand.
  names = source.ids()
  fills = np.stack([np.asarray(__import__("PIL.Image").Image.open(
      runner.image_path(out, n, "thick", "filled")).convert("RGB")) for n in names])
  originals = np.stack([source[i] for i in range(8)])
  want = metrics.distribution_scores(_toy_features(fills), _toy_features(originals), 0)
  assert d["fid"] == pytest.approx(want["fid"]) and d["kid"] == pytest.approx(want["kid"])
  assert d["n"] == 8 and d["fid"] > 0 and calls == [8, 8]
  assert runner.real_features(source, 8, str(tmp_path / "work"), counted) is not None
  assert runner.score_distribution(out, real, counted) == d and calls == [8, 8]  # cached
  assert runner.read_distribution(out) == d
  with open(os.path.join(out, "results.csv"), "a") as f:
    f.write("\n")  # the cell changed: its distribution scores no longer apply
  assert runner.read_distribution(out) is None
  with pytest.raises(ValueError, match="has 8 images, the real features 3"):
    runner.score_distribution(out, real[:3], counted)


def test_the_irregular_table_has_fid_kid_and_no_paper_column(tmp_path, monkeypatch):
  # Stand-in features must be enough: CI has no Inception (the metrics extra).
  monkeypatch.setattr(metrics, "inception_available", lambda: False)
  folder = str(tmp_path / "imgs")
  write_images(folder, 6, size=(32, 32))
  test = ip.FolderSource(folder, "all", ip.CropRule("none", 1.0, 32))
  run = table1.DatasetRun("cars", test, None, None, {})
  table = table1_config.get_config()
  table.methods, table.mask_types = ("tv", "biharmonic"), ("thin", "box")
  table.num_images, table.tv_iterations, table.figure_images, table.fid = 6, 20, 2, True
  rows = table1.reproduce([run], str(tmp_path / "work"), str(tmp_path / "out"), {}, table,
                          log=lambda *_: None, features=_toy_features)
  assert {(r["mask_type"], r["method"]) for r in rows} == {
      (k, m) for k in ("thin", "box") for m in ("tv", "biharmonic")}
  assert all(r["fid"] is not None and r["kid_std"] is not None and r["paper_psnr"] is None
             for r in rows)
  text = open(tmp_path / "out" / "table1.md").read()
  assert text.startswith("# Today's irregular masks") and "FID / KID ×10³" in text
  assert "| thin |" in text and "(21.3)" not in text
  with open(tmp_path / "out" / "table1.csv", newline="") as f:
    assert {"fid", "kid", "kid_std", "psnr_hole_sem"} <= set(next(csv.reader(f)))


def test_fid_without_the_metrics_extra_is_refused_before_any_work(monkeypatch):
  monkeypatch.setattr(metrics, "inception_available", lambda: False)
  table = table1_config.get_config()
  table.fid = True
  with pytest.raises(ValueError, match=r"--config.fid=true needs .*inpaint-jax\[metrics\]"):
    table1.validate(table)


def test_biharmonic_fill_reproduces_a_linear_ramp_and_keeps_known_pixels():
  ramp = np.linspace(-0.8, 0.8, 32, dtype=np.float32)
  image = np.stack([np.broadcast_to(ramp, (32, 32)), np.broadcast_to(ramp[:, None], (32, 32)),
                    np.full((32, 32), 0.1, np.float32)], -1)[None]
  m = masks_lib.make_masks("center", 32, 0, [1])
  filled = baselines.biharmonic_inpaint(image, m)
  # A linear function is biharmonic: a hole inside the image gets the ramp back.
  np.testing.assert_allclose(filled, image, atol=2e-3)
  m = masks_lib.make_masks("thick", 32, 0, [1])
  filled = baselines.biharmonic_inpaint(image, m)
  assert (filled[0][m[0] > 0] == image[0][m[0] > 0]).all() and np.isfinite(filled).all()
  noise = np.random.default_rng(0).normal(0, 0.1, image.shape).astype(np.float32)
  m = masks_lib.make_masks("center", 32, 0, [1])
  hole = baselines.biharmonic_inpaint(noise, m)[0, 8:24, 8:24]
  step = lambda x: np.abs(np.diff(x, axis=0)).mean()
  assert step(hole) < 0.4 * step(noise[0, 8:24, 8:24])  # smooth inside the hole
