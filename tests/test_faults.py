"""Faults a hostile user meets, one test per class, through the real entry points.

Classes tested beside the feature they break (kept there, listed here so that every class
has its place): resume with other settings and damaged manifests
(test_split_inpainting.py::test_killed_run_resumes_to_the_same_csv and the refusal below);
a damaged checkpoint, another architecture, two writers, bad training settings
(test_train.py); outputs over inputs, shared stems, full disk, bad flags, --help
(test_cli.py); image modes and grey masks (test_input_pipeline.py).
"""

import csv
import json
import os
import shutil
import subprocess
import sys

import flax.serialization
import jax
import ml_collections
import numpy as np
from PIL import Image
import pytest

from conftest import export_tiny_model
from conftest import host_devices_env
from conftest import write_images
from inpaint_jax import commands
from inpaint_jax.configs import latent_encoder as le_config
from inpaint_jax.configs import presets
from inpaint_jax.configs import tiny
from inpaint_jax.core import blend
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import metrics
from inpaint_jax.evaluation import runner
from inpaint_jax.models import dcgan as models
from inpaint_jax import model_files
from inpaint_jax.configs import search as search_config
from inpaint_jax.train import dcgan as train
from inpaint_jax.train import latent_encoder as le_train

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("faults")
  folder = str(root / "imgs")
  write_images(folder, 4, size=(32, 32))
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(root / "tiny.msgpack")
  model_files.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  return folder, model


def _split(folder, model, out, *extra):
  cmd = [sys.executable, os.path.join(REPO, "experiments", "inpaint_split.py"),
         f"--config={REPO}/inpaint_jax/configs/split.py:paper", f"--config.checkpoint={model}",
         f"--config.folder={folder}", "--config.split=all", f"--out={out}",
         "--config.search.iterations=2", "--config.batch_size=2",
         "--config.write_images=false"] + list(extra)
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  errors = [l for l in proc.stderr.splitlines() if "error:" in l]
  return proc.returncode, errors, proc.stderr


def test_a_split_restarted_with_other_settings_is_refused(setup, tmp_path):
  folder, model = setup
  out = str(tmp_path / "cell")
  code, _, err = _split(folder, model, out)  # mask type: center, the default
  assert code == 0, err[-2000:]
  before = open(os.path.join(out, "results.csv")).read()
  for flag, shown in (("--config.mask_type=half", "mask_type 'center' there, 'half' now"),
                      ("--config.search.iterations=3", "settings.iterations 2 there, 3 now"),
                      ("--config.search.learning_rate=0.5",
                       "settings.learning_rate 0.01 there, 0.5 now"),
                      ("--config.num_images=3", "images 4 there, 3 now")):
    code, errors, err = _split(folder, model, out, flag)
    assert code == 2 and len(errors) == 1 and shown in errors[0], err[-2000:]
    assert "Traceback" not in err
  assert open(os.path.join(out, "results.csv")).read() == before  # untouched
  code, _, err = _split(folder, model, out, "--config.mask_type=half", "--config.fresh=true")
  assert code == 0, err[-2000:]
  assert ",half," in open(os.path.join(out, "results.csv")).read()


def test_values_that_make_no_sense_are_one_line_errors(setup, tmp_path):
  folder, model = setup
  code, errors, err = _split(folder, model, str(tmp_path / "cell"), "--config.search.iterations=0")
  assert code == 2 and len(errors) == 1, err[-2000:]
  assert "iterations must be at least 1, got 0" in errors[0]
  # The same checks in this process (each is what the command line reports in one line).
  config, g_vars, d_vars = model_files.load_model(model)
  method = runner.ours({"generator": g_vars, "discriminator": d_vars}, config)
  source = sources.FolderSource(folder, "all", sources.CropRule("none", 1.0, 32))
  for kwargs, message in (({"batch_size": 0}, "batch size must be at least 1, got 0"),
                          ({"num_images": -3}, "number of images must be at least 1"),
                          ({"seed": -1}, "seed must be a non-negative integer, got -1")):
    with pytest.raises(ValueError, match=message):
      runner.run_cell(source, method, str(tmp_path / "cell"), "center", **kwargs)
  # One validation of the search block, whatever sets it (configs.search.settings here).
  check = lambda **kw: inpaint_lib.check_settings(None, ml_collections.ConfigDict(
      {"search": search_config.settings(None, kw)}))
  for kwargs, message in (({"restarts": -1}, "search.restarts must be at least 1, got -1"),
                          ({"halving_every": -5}, "halving_every must be 0 .off. or positive, got -5"),
                          ({"stop_every": -2}, "stop_every must be 0 .off. or positive, got -2"),
                          ({"learning_rate": -0.5}, "learning_rate must be a finite number >= 0"),
                          ({"prior_weight": float("nan")}, "prior_weight must be a finite number"),
                          ({"window": 4}, "window must be odd"),
                          ({"blend_mix_window": 4}, "blend_mix_window must be 0 .off. or odd"),
                          ({"latent_samples": -1}, "latent_samples must be 0 .off. or positive"),
                          ({"latent_noise": -0.2}, "latent_noise must be a finite number >= 0"),
                          ({"blend_mix_low": 0.9, "blend_mix_high": 0.5},
                           "must satisfy 0 <= low < high <= 1, got 0.9 and 0.5"),
                          ({"beta1": 1.0}, r"beta1 must be in \[0, 1\)"),
                          ({"restarts": 1, "halving_every": 5}, "halving_every prunes restarts"),
                          ({"lr_schedule": "linear"}, "lr_schedule must be 'constant' or "
                                                      "'cosine', got 'linear'")):
    with pytest.raises(ValueError, match=message):
      check(**kwargs)
  with pytest.raises(ValueError, match="search has no setting 'learning_rat'"):
    search_config.settings(None, {"learning_rat": 0.1})
  config.search = search_config.settings(None, dict(restarts=4, halving_every=10, stop_every=50,
                                                    lr_schedule="cosine", mirror=True))
  check(restarts=4, halving_every=10, stop_every=50, lr_schedule="cosine", mirror=True)
  assert config.search.halving_every == 10 and config.search.mirror
  # Each of these changes the result, so a cell records it (and refuses to resume without).
  recorded = runner.ours({"generator": g_vars, "discriminator": d_vars}, config).settings
  assert {"halving_every", "stop_every", "stop_tolerance", "lr_schedule", "mirror"} <= set(recorded)
  assert not os.path.exists(tmp_path / "cell" / "results.csv")


def test_two_images_with_one_stem_are_refused_before_any_work(setup, tmp_path):
  _, model = setup
  folder = tmp_path / "imgs"
  write_images(str(folder), 2, size=(32, 32))
  os.rename(folder / "000002.jpg", folder / "000001.png")
  code, errors, err = _split(str(folder), model, str(tmp_path / "cell"))
  assert code == 2 and len(errors) == 1 and "would share the pictures" in errors[0], err[-2000:]


def test_choose_backend_keeps_what_the_user_set(monkeypatch):
  from inpaint_jax import commands  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=true")
  commands.choose_backend()
  assert os.environ["XLA_FLAGS"] == ("--xla_cpu_use_thunk_runtime=true "
                                     "--xla_force_host_platform_device_count=3")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
  commands.choose_backend()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
  monkeypatch.delenv("XLA_FLAGS")
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
  commands.choose_backend()
  assert "XLA_FLAGS" not in os.environ


def test_a_path_that_cannot_be_read_or_written_is_a_one_line_error(tmp_path, monkeypatch,
                                                                   capsys):
  """Every command's main goes through `report_user_errors`: an OSError (a folder that
  cannot be made, a permission refused) is one line without its errno, exit status 2."""
  monkeypatch.setattr(sys, "argv", ["prog"])
  (tmp_path / "a_file").write_text("x")
  export_under_a_file = lambda argv: images_lib.atomic_write_bytes(
      str(tmp_path / "a_file" / "model.msgpack"), b"data")

  def refused(argv):
    raise PermissionError(13, "Permission denied", "/data/out.png")  # root is never refused

  for main, line in ((export_under_a_file, f"File exists: {tmp_path / 'a_file'}"),
                     (refused, "Permission denied: /data/out.png")):
    with pytest.raises(SystemExit) as exit_info:
      commands.report_user_errors(main)([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"prog: error: {line}\n"
  assert os.listdir(tmp_path) == ["a_file"]


# ------------------------------------------------------------------ damaged checkpoints


def _damage(step_dir, shape):
  files = sorted(os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs)
  if shape in ("empty step folder", "foreign files"):
    shutil.rmtree(step_dir)
    os.makedirs(step_dir)
    if shape == "foreign files":
      with open(os.path.join(step_dir, "notes.txt"), "w") as f:
        f.write("not a checkpoint")
  elif shape == "missing files":
    for path in files[::2]:
      os.unlink(path)
  elif shape == "truncated files":
    for path in files:
      os.truncate(path, os.path.getsize(path) // 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny run of 15 steps (checkpoints 5, 10, 15) and the same run taken to 20 at once."""
  root = tmp_path_factory.mktemp("ckpt")
  folder = str(root / "imgs")
  write_images(folder, 24)

  def config(steps):
    c = tiny.get_config()
    c.dataset.folder, c.progress_bar, c.num_steps, c.keep_checkpoints = folder, False, steps, 3
    return c

  run15 = str(root / "run15")
  train.train_and_evaluate(config(15), run15)
  straight = train.train_and_evaluate(config(20), str(root / "run20"))
  return config, run15, straight


@pytest.mark.parametrize("shape", ["empty step folder", "missing files", "truncated files",
                                   "foreign files"])
def test_a_damaged_step_is_set_aside_alone_and_training_resumes_from_the_one_before(
    trained, tmp_path, shape):
  config, run15, straight = trained
  workdir = str(tmp_path / "run")
  shutil.copytree(run15, workdir)
  ckpts = os.path.join(workdir, "checkpoints")
  _damage(os.path.join(ckpts, "15"), shape)
  os.makedirs(os.path.join(ckpts, "damaged-15"))  # an earlier session's: kept, not replaced
  resumed = train.train_and_evaluate(config(20), workdir)
  assert {"damaged-15", "damaged-15-2", "10", "15", "20"} <= set(os.listdir(ckpts))
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # resumed from step 10


def test_no_readable_checkpoint_stops_with_one_line_and_moves_nothing(trained, tmp_path):
  config, run15, _ = trained
  workdir = str(tmp_path / "run")
  shutil.copytree(run15, workdir)
  ckpts = os.path.join(workdir, "checkpoints")
  for step in ("5", "10", "15"):
    _damage(os.path.join(ckpts, step), "empty step folder")
  with pytest.raises(ValueError, match=f"no checkpoint in {ckpts} can be read") as info:
    train.train_and_evaluate(config(20), workdir)
  assert "\n" not in str(info.value)
  assert sorted(os.listdir(ckpts)) == ["10", "15", "5"]  # nothing set aside, nothing new


def test_a_model_read_from_a_workdir_skips_a_damaged_step_and_refuses_a_missing_one(
    trained, tmp_path):
  _, run15, _ = trained
  workdir = str(tmp_path / "run")
  shutil.copytree(run15, workdir)
  _damage(os.path.join(workdir, "checkpoints", "15"), "truncated files")
  _, g_newest, _ = model_files.load_model(workdir)
  _, g_10, _ = model_files.load_model(run15, step=10)
  for a, b in zip(jax.tree.leaves(g_newest), jax.tree.leaves(g_10)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="holds no checkpoint of step 7; its steps are 5, 10, 15"):
    model_files.load_model(workdir, step=7)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["10", "15", "5"]


# ------------------------------------------------------------------ scores describe the files


def test_blended_stays_in_range_where_the_raw_poisson_solve_overshoots(tmp_path):
  model = export_tiny_model(tmp_path / "sharp.msgpack", distinct_fills=True)  # G saturates
  config, params = model_files.load_params(model, search_config.settings(None, dict(iterations=2)))
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
  masks = np.stack([masks_lib.center(32)] * 4)
  out = inpaint_lib.inpaint(images, masks, params, config)
  raw = np.asarray(blend.poisson_blend(images, out.generated, masks))
  assert raw.max() > 1.0 or raw.min() < -1.0  # the case is one that needs the clip
  for a in (out.blended, out.fills):
    assert a.min() >= -1.0 and a.max() <= 1.0
  np.testing.assert_array_equal(out.blended[masks > 0], images[masks > 0])


def test_a_cells_scores_are_recomputed_exactly_from_its_written_pictures(setup, tmp_path):
  _, model = setup
  config, params = model_files.load_params(model, search_config.settings(None, dict(iterations=2)))
  rng = np.random.default_rng(1)
  pixels = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  names = [f"im{i}.png" for i in range(5)]
  out = str(tmp_path / "cell")
  runner.run_cell(sources.ArraySource(pixels, names), runner.ours(params, config), out,
                  "center", batch_size=2, progress=False)
  with open(os.path.join(out, "results.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  read = lambda name, what: images_lib.to_float(
      np.asarray(Image.open(runner.image_path(out, name, "center", what))))
  for row in rows:
    name = row["id"]
    original, filled, generated = (read(name, w)[None] for w in ("original", "filled",
                                                                   "generated"))
    mask = masks_lib.make_mask("center", 32, int(row["mask_seed"]))[None]
    got = metrics.scores(filled, original, mask, generated)
    for column in ("psnr_hole", "psnr_whole", "ssim", "psnr_hole_generated"):
      assert float(row[column]) == pytest.approx(float(got[column][0]), rel=1e-5, abs=1e-6), column


# ------------------------------------------------------------------ fingerprints survive export


def test_an_encoder_trained_for_a_workdir_works_with_that_workdirs_exported_file(tmp_path):
  """README's workflow: train a DCGAN, train its encoder on the workdir, export both (float16
  files), inpaint with the model file and the encoder file."""
  folder = str(tmp_path / "imgs")
  write_images(folder, 16, size=(32, 32))
  dcgan_config = tiny.get_config()
  dcgan_config.dataset.folder, dcgan_config.progress_bar, dcgan_config.num_steps = folder, False, 4
  workdir = str(tmp_path / "dcgan")
  train.train_and_evaluate(dcgan_config, workdir)
  config = le_config.get_config("celeb_a")
  config.dcgan = workdir
  config.dataset.source, config.dataset.folder, config.dataset.crop = "folder", folder, "none"
  config.dataset.train_split = config.dataset.test_split = "all"
  config.model.nf, config.model.image_size = 8, 32
  config.batch_size, config.num_steps, config.progress_bar = 4, 2, False
  config.log_every = config.sample_every = config.checkpoint_every = 2
  le_train.train_and_evaluate(config, str(tmp_path / "encoder_run"))
  encoder = str(tmp_path / "encoder.msgpack")
  le_train.export(str(tmp_path / "encoder_run"), encoder)  # float16, as the command writes it
  model = str(tmp_path / "model.msgpack")
  _, g_vars, d_vars = model_files.load_model(workdir)
  model_files.export_model(model, dcgan_config, g_vars, d_vars)  # float16
  for path in (model, workdir):  # the exported file and the workdir are one generator
    config_f, params = model_files.load_params(path, search_config.get_config("fast"), encoder)
    assert "encoder" in params and config_f.search.start == "encoder"
  other, _ = models.init_variables(dcgan_config.model, jax.random.PRNGKey(5))
  with pytest.raises(ValueError, match="trained for another generator"):
    model_files.load_encoder(encoder, config_f.model, other)


# ------------------------------------------------------------------ a finished cell is verified


@pytest.mark.parametrize("damage", ["results truncated", "results removed", "summary edited",
                                    "a rows file removed"])
def test_a_finished_cell_is_checked_against_its_rows_and_repaired(setup, tmp_path, damage):
  _, model = setup
  config, params = model_files.load_params(model, search_config.settings(None, dict(iterations=2)))
  pixels = np.random.default_rng(2).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  source = sources.ArraySource(pixels, [f"im{i}.png" for i in range(5)])
  out = str(tmp_path / "cell")
  cell = lambda: runner.run_cell(source, runner.ours(params, config), out, "center",
                                 batch_size=2, write_images=False, progress=False)
  first = cell()
  results = os.path.join(out, "results.csv")
  with open(results, "rb") as f:
    good = f.read()
  before = os.stat(results).st_mtime_ns
  assert cell() == first and os.stat(results).st_mtime_ns == before  # intact: left alone
  if damage == "results truncated":
    with open(results, "wb") as f:
      f.write(good[:len(good) // 2])
  elif damage == "results removed":
    os.unlink(results)
  elif damage == "summary edited":
    summary = runner.read_summary(out)
    summary["mean_psnr_hole"] += 5.0
    with open(os.path.join(out, "summary.json"), "w") as f:
      json.dump(summary, f)
  else:
    os.unlink(os.path.join(out, "rows", sorted(os.listdir(os.path.join(out, "rows")))[0]))
  again = cell()
  with open(results, "rb") as f:
    assert f.read() == good
  keys = [k for k in first if k.startswith(("mean_", "sem_")) or k == "images"]
  assert {k: again[k] for k in keys} == pytest.approx({k: first[k] for k in keys}, rel=1e-12)
  assert runner.read_summary(out)["mean_psnr_hole"] == pytest.approx(first["mean_psnr_hole"])


# ------------------------------------------------------------------ device placement


_PLACEMENT = """
import sys
import numpy as np
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax import model_files
from inpaint_jax.configs import search as search_config
config, params = model_files.load_params(sys.argv[2], search_config.settings(
    None, dict(iterations=3, tune_steps=8, restarts=2, fills=2, mirror=True)))
images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
masks = np.stack([masks_lib.center(32)] * 3)
fill = lambda idx: inpaint_lib.inpaint(images[idx], masks[idx], params, config, 0).fills
out = [fill([0, 1, 2])]
if sys.argv[1] != "1":  # alone (padded: with its copy), and moved to the other device
  alone = fill([2])
  moved = fill([2, 0, 1])
  out += [np.concatenate([out[0][:2], alone]), moved[[1, 2, 0]]]
np.save(sys.argv[3], np.stack(out))
"""


def test_a_fill_is_the_same_alone_anywhere_in_a_batch_and_on_any_number_of_devices(tmp_path):
  """Every beyond-paper option on (tuning, mirror, two fills): 1 and 2 forced host devices,
  an image alone, in a batch and moved to the other device."""
  model = export_tiny_model(tmp_path / "sharp.msgpack", distinct_fills=True)
  got = {}
  for devices in (1, 2):
    out = str(tmp_path / f"fills_{devices}.npy")
    proc = subprocess.run([sys.executable, "-c", _PLACEMENT, str(devices), model, out],
                          env=host_devices_env(devices), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got[devices] = np.load(out)
  reference = got[1][0]
  for what, fills in zip(("batch", "alone", "moved"), got[2]):
    np.testing.assert_allclose(fills, reference, atol=2e-5, err_msg=f"2 devices, {what}")


# ------------------------------------------------------------------ outputs never over inputs


def test_check_paths_by_resolved_path(tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  (data / "a.jpg").write_bytes(b"x")
  os.symlink(data, tmp_path / "link")
  ok = [({"--out": str(tmp_path / "out")}, {"--folder": str(data)}),
        ({"--out": str(data / "a_filled.png")}, {"--image": str(data / "a.jpg")}),  # a sibling
        ({"--out": None}, {"--folder": str(data)})]
  for outputs, inputs in ok:
    commands.check_paths(outputs, inputs)
  bad = [({"--out": str(tmp_path / "link" / "a.jpg")}, {"--image": str(data / "a.jpg")}, "is --image"),
         ({"--out": str(data / ".." / "data")}, {"--folder": str(data)}, "is --folder"),
         ({"--out": str(tmp_path / "link" / "new")}, {"--folder": str(data)}, "lies inside --folder"),
         ({"--out": str(tmp_path)}, {"--image": str(data / "a.jpg")}, "holds --image")]
  for outputs, inputs, words in bad:
    with pytest.raises(commands.UserError, match=words):
      commands.check_paths(outputs, inputs)


def _entry(name):
  if name == "inpaint-jax":
    return [sys.executable, "-m", "inpaint_jax.cli"]
  return [sys.executable, os.path.join(REPO, "experiments", f"{name}.py")]


def _listing(root):
  return sorted(os.path.relpath(os.path.join(r, f), root) for r, _, fs in os.walk(root)
                for f in fs + ["/"])


@pytest.mark.parametrize("case", [
    "inpaint out is the model", "inpaint output_dir is input_dir", "demo out holds the model",
    "export into the workdir", "split out is the folder", "split out holds other cells",
    "examples out inside the folder", "table1 out is a dataset", "curves out inside the folder",
    "train workdir inside the dataset"])
def test_no_command_writes_over_or_into_what_it_reads(setup, tmp_path, case):
  folder, model = setup
  root = str(tmp_path)
  shutil.copytree(os.path.dirname(model), os.path.join(root, "m"))
  model = os.path.join(root, "m", os.path.basename(model))
  photos = os.path.join(root, "photos")
  write_images(photos, 2)
  table = os.path.join(root, "table1", "celeba", "ours", "center")
  os.makedirs(table)
  with open(os.path.join(table, "run.json"), "w") as f:
    f.write("{}")
  args, words = {
      "inpaint out is the model": (["inpaint-jax", "inpaint", "--image", os.path.join(photos, "000001.jpg"),
                                    "--mask_type", "center", "--checkpoint", model, "--out", model],
                                   "is --checkpoint"),
      "inpaint output_dir is input_dir": (["inpaint-jax", "inpaint", "--input_dir", photos, "--mask_type",
                                           "center", "--checkpoint", model, "--output_dir", photos],
                                          "is --input_dir"),
      "demo out holds the model": (["inpaint-jax", "demo", "--checkpoint", model, "--out",
                                    os.path.dirname(model)], "holds --checkpoint"),
      "export into the workdir": (["export_model", f"--workdir={os.path.dirname(model)}",
                                   f"--out={os.path.dirname(model)}/x.msgpack"], "lies inside --workdir"),
      "split out is the folder": (["inpaint_split", f"--config.checkpoint={model}",
                                   f"--config.folder={folder}", "--config.split=all",
                                   f"--out={folder}"], "is --config.folder"),
      "split out holds other cells": (["inpaint_split",
                                       f"--config={REPO}/inpaint_jax/configs/split.py:paper",
                                       f"--config.checkpoint={model}",
                                       f"--config.folder={folder}", "--config.split=all",
                                       f"--out={os.path.join(root, 'table1')}"],
                                      "holds the scored results of other runs"),
      "examples out inside the folder": (["inpaint_examples", f"--config.checkpoint={model}",
                                          f"--config.folder={folder}", "--config.split=all",
                                          f"--out={folder}/examples"], "lies inside --config.folder"),
      "table1 out is a dataset": (["reproduce_table1", f"--config.celeba.folder={folder}",
                                   f"--out={folder}", f"--workdir={root}/t"],
                                  "is --config.celeba.folder"),
      "curves out inside the folder": (["search_curves", f"--config.checkpoint={model}",
                                        f"--config.folder={folder}", f"--out={folder}/curves"],
                                       "lies inside --config.folder"),
      "train workdir inside the dataset": (["train_dcgan", f"--config={REPO}/inpaint_jax/configs/tiny.py",
                                            f"--config.dataset.folder={folder}",
                                            f"--workdir={folder}/run"], "lies inside --config.dataset.folder"),
  }[case]
  before = {p: _listing(p) for p in (root, folder)}
  proc = subprocess.run(_entry(args[0]) + args[1:], capture_output=True, text=True, timeout=300,
                        cwd=root)
  errors = [l for l in proc.stderr.splitlines() if "error:" in l]
  assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
  assert words in errors[0] and "Traceback" not in proc.stderr
  assert {p: _listing(p) for p in (root, folder)} == before  # nothing written anywhere


# ------------------------------------------------------------------ one-line errors, no noise


def test_mistakes_are_one_line_errors_and_help_lists_each_commands_flags(setup, trained, tmp_path):
  folder, model = setup
  _, run15, _ = trained
  encoder_file = str(tmp_path / "e.msgpack")
  e_vars = {"params": {"w": np.zeros(3, np.float32)}}
  with open(encoder_file, "wb") as f:
    f.write(flax.serialization.msgpack_serialize({"kind": "latent_encoder", "encoder": e_vars}))
  ce_workdir = tmp_path / "ce_run"
  ce_workdir.mkdir()
  (ce_workdir / "config.json").write_text(json.dumps({"fill_colour_images": 10, "model": {}}))
  photo = os.path.join(folder, sorted(os.listdir(folder))[0])
  out = str(tmp_path / "o.png")
  cars = tmp_path / "cars"  # two images of the cars preset's test split
  cars.mkdir()
  for name in ("06645.jpg", "06646.jpg"):
    shutil.copy(photo, cars / name)
  tiny_config = f"--config={REPO}/inpaint_jax/configs/tiny.py"
  cases = [
      (["train_dcgan", tiny_config, "--config.model.ngff=8", f"--workdir={tmp_path}/w"],
       '--config.model.ngff: the config has no field \'ngff\'; Did you mean "ngf"'),
      (["inpaint-jax", "inpaint", "--image", photo, "--mask_type", "center", "--out", out,
        "--checkpoint", encoder_file], "is a latent encoder file, not a DCGAN: give it as --encoder"),
      (["inpaint-jax", "inpaint", "--image", photo, "--mask_type", "center", "--out", out,
        "--checkpoint", str(ce_workdir)], "is a Context Encoder workdir, not a DCGAN"),
      (["export_model", f"--workdir={run15}", "--step=7", f"--out={tmp_path}/x.msgpack"],
       "holds no checkpoint of step 7; its steps are 5, 10, 15"),
      (["inpaint-jax", "demo", "--paste_back", "--out", str(tmp_path / "d")],
       "--paste_back: demo does not take it"),
      (["inpaint-jax", "inpaint", "--image", photo, "--mask_type", "center", "--out", out,
        "--checkpoint", model, "--encoder", encoder_file, "--preset", "paper"],
       "this one starts at random: drop --encoder"),
      (["inpaint-jax", "inpaint", "--image", photo, "--mask_type", "center", "--out", out,
        "--checkpoint", model, "--halving_every", "5"], "--halving_every prunes restarts"),
      (["inpaint_split", "--config=" + os.path.join(REPO, "inpaint_jax/configs/split.py:paper"),
        f"--config.checkpoint={model}", f"--config.folder={folder}",
        "--config.tfds_name=celeb_a", f"--out={tmp_path}/cell"],
       "or a TFDS builder (celeb_a), not both"),
      (["inpaint_split", f"--config.checkpoint={model}", f"--out={tmp_path}/cell"],
       "has no shipped latent encoder"),
      (["inpaint_split", "--config.search.learning_rat=0.1", f"--out={tmp_path}/cell"],
       "--config.search.learning_rat: the config has no field 'learning_rat'"),
      (["reproduce_table1", "--config.datasets=cars", f"--config.cars.folder={cars}",
        "--config.methods=ce", "--config.nearest_neighbour=false",
        f"--workdir={tmp_path}/t", f"--out={tmp_path}/r"], "none of the requested cells can run: "
       "ce cannot run for cars center, cars pattern, cars random, cars half: no Context Encoder"),
      (["reproduce_table1", "--config.methods=ce,poisson", f"--workdir={tmp_path}/t",
        f"--out={tmp_path}/r"], "--config.methods: unknown ['poisson']"),
  ]
  for args, words in cases:
    proc = subprocess.run(_entry(args[0]) + args[1:], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path))
    errors = [l for l in proc.stderr.splitlines() if "error:" in l]
    assert proc.returncode == 2 and len(errors) == 1, (args, proc.stderr[-3000:])
    assert words in errors[0], (words, errors[0])
    assert "Traceback" not in proc.stderr
  assert sorted(os.listdir(tmp_path)) == ["cars", "ce_run", "e.msgpack"]  # nothing written
  for name, own in (("inpaint-jax", ("--paste_back", "--preset:", "--host:", "--fills:")),
                    ("export_model", ("--workdir",)),
                    ("inpaint_split", ("--config:", "--out:"))):
    proc = subprocess.run(_entry(name) + ["-h"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (name, proc.stderr[-2000:])
    for flag in own:  # the command's own flags, the shared search flags among them
      assert flag in proc.stdout + proc.stderr, (name, flag)


def test_a_damaged_step_is_reported_in_one_line_without_orbaxs_thread_noise(trained, tmp_path):
  _, run15, _ = trained
  workdir = str(tmp_path / "run")
  shutil.copytree(run15, workdir)
  _damage(os.path.join(workdir, "checkpoints", "15"), "truncated files")
  folder = json.load(open(os.path.join(workdir, "config.json")))["dataset"]["folder"]
  proc = subprocess.run(_entry("train_dcgan") + [
      f"--config={REPO}/inpaint_jax/configs/tiny.py", f"--config.dataset.folder={folder}",
      "--config.num_steps=15", "--config.keep_checkpoints=3", f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  loud = [l for l in proc.stderr.splitlines() if l[:1] in ("W", "E") and l[1:5].isdigit()]
  assert len(loud) == 1 and "checkpoint 15" in loud[0] and "resuming from step 10" in loud[0], loud
  assert "Traceback" not in proc.stderr
