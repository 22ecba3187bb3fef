"""The command line, run as a user runs it: a subprocess, checked by exit status and files."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
from PIL import Image
import pytest

from conftest import export_tiny_model
from inpaint_jax import model_files
from inpaint_jax.configs import tiny
from inpaint_jax.models import dcgan as models

pytestmark = pytest.mark.slow  # every test runs the command line as a subprocess


def _cli():
  script = os.path.join(os.path.dirname(sys.executable), "inpaint-jax")
  return [script] if os.path.exists(script) else [sys.executable, "-m", "inpaint_jax.cli"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
  return export_tiny_model(tmp_path_factory.mktemp("model") / "tiny.msgpack")


@pytest.fixture
def photo(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / "photo.jpg")
  Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(path)
  return path


def run(*args, env=None):
  proc = subprocess.run(_cli() + list(args), capture_output=True, text=True, timeout=300, env=env)
  return proc.returncode, proc.stdout, proc.stderr


def _error_line(stderr):
  lines = [l for l in stderr.strip().splitlines() if l.startswith("inpaint-jax: error:")]
  assert len(lines) == 1, stderr[-2000:]
  assert "Traceback" not in stderr
  return lines[0]


def test_inpaint_one_photo_and_paste_back(model_file, photo, tmp_path):
  out = str(tmp_path / "out" / "result.png")
  code, stdout, stderr = run("inpaint", "--image", photo, "--mask_type", "center", "--out", out,
                             "--checkpoint", model_file, "--iterations", "3", "--crop", "square")
  assert code == 0, stderr[-2000:]
  assert "centre-cropped 50px square, resized to 32x32" in stdout
  assert "Unable to initialize backend" not in stderr  # library INFO lines are kept out
  assert Image.open(out).size == (32, 32)
  full = str(tmp_path / "full.png")
  code, _, stderr = run("inpaint", "--image", photo, "--mask_type", "center", "--out", full,
                        "--checkpoint", model_file, "--iterations", "3", "--paste_back",
                        "--crop", "square")
  assert code == 0, stderr[-2000:]
  pasted = np.asarray(Image.open(full))
  original = np.asarray(Image.open(photo).convert("RGB"))
  assert pasted.shape == original.shape
  # Outside the centred 50x50 square and its central hole, the photo is untouched.
  np.testing.assert_array_equal(pasted[:, :10], original[:, :10])
  np.testing.assert_array_equal(pasted[:5], original[:5])


def test_a_model_trained_on_whole_images_sees_the_whole_photo(model_file, photo, tmp_path):
  """The tiny model was trained on whole images (dataset.crop 'none', as the cars model):
  --crop auto squeezes the whole 70x50 photo to 32x32, so a hole at its left edge, outside
  the centred square, is filled; --crop square refuses that hole and says what to do."""
  original = np.asarray(Image.open(photo).convert("RGB"))
  mask = np.full((50, 70), 255, np.uint8)
  mask[20:30, 2:8] = 0
  Image.fromarray(mask).save(tmp_path / "m.png")
  args = ["inpaint", "--image", photo, "--mask", str(tmp_path / "m.png"), "--checkpoint",
          model_file, "--iterations", "2"]
  code, stdout, stderr = run(*args, "--out", str(tmp_path / "small.png"))
  assert code == 0, stderr[-2000:]
  assert "resized from 70x50 to 32x32, aspect ratio not kept" in stdout
  # Known model pixels are the photo squeezed by Pillow's bicubic resize (a reference
  # outside the package), bit for bit.
  squeezed = np.asarray(Image.open(photo).convert("RGB").resize((32, 32), Image.BICUBIC))
  result = np.asarray(Image.open(tmp_path / "small.png"))
  np.testing.assert_array_equal(result[:, 8:], squeezed[:, 8:])  # the hole is at x < 4
  code, _, stderr = run(*args, "--out", str(tmp_path / "full.png"), "--paste_back")
  assert code == 0, stderr[-2000:]
  pasted = np.asarray(Image.open(tmp_path / "full.png"))
  changed = (pasted != original).any(-1)
  assert changed[20:30, 2:8].any() and not changed[mask > 0].any()
  code, _, stderr = run(*args, "--out", str(tmp_path / "sq.png"), "--crop", "square")
  assert code == 2 and "outside the centred square" in _error_line(stderr)
  assert "(10, 0 to 60, 50)" in _error_line(stderr) and "--crop stretch" in _error_line(stderr)


def test_a_model_trained_on_centre_crops_sees_the_same_crop_of_a_photo(tmp_path):
  """A model trained on the centred half of each image (as the faces model on CelebA's
  108/178) is shown the centred half of a photo, unless the photo is already its size."""
  config = tiny.get_config()
  config.dataset.crop, config.dataset.crop_fraction = "center", 0.5
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(tmp_path / "centre.msgpack")
  model_files.export_model(model, config, g_vars, d_vars)
  rng = np.random.default_rng(3)
  Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(tmp_path / "p.png")
  mask = np.full((80, 100), 255, np.uint8)
  mask[38:42, 48:52] = 0
  Image.fromarray(mask).save(tmp_path / "m.png")
  code, stdout, stderr = run("inpaint", "--image", str(tmp_path / "p.png"), "--mask",
                             str(tmp_path / "m.png"), "--out", str(tmp_path / "r.png"),
                             "--checkpoint", model, "--iterations", "2")
  assert code == 0, stderr[-2000:]
  assert "centre-cropped 40px square (50% of the shorter side), resized to 32x32" in stdout
  want = np.asarray(Image.open(tmp_path / "p.png").crop((30, 20, 70, 60)).resize(
      (32, 32), Image.BICUBIC))
  result = np.asarray(Image.open(tmp_path / "r.png"))
  known = np.ones((32, 32), bool)
  known[14:18, 14:18] = False  # the hole, 4 px of 40 -> model pixels 14.4..17.6
  np.testing.assert_array_equal(result[known], want[known])


def test_demo_writes_one_cell_per_mask_type_and_a_grid(model_file, tmp_path):
  out = tmp_path / "demo"
  code, stdout, stderr = run("demo", "--checkpoint", model_file, "--out", str(out),
                             "--iterations", "2", "--restarts", "1")
  assert code == 0, stderr[-2000:]
  for mask_type in ("center", "pattern", "random", "half"):
    assert f"  {mask_type}" in stdout and "PSNR hole" in stdout
    summary = json.loads((out / mask_type / "summary.json").read_text())
    assert summary["images"] == 8 and summary["settings"]["iterations"] == 2
    # One CPU device per core unless XLA_FLAGS says otherwise (commands.choose_backend).
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
      assert summary["devices"] == len(os.sched_getaffinity(0))
  # 8 faces, 4 to a row of quads, 4 mask types: 8 rows of 16 tiles of 32 px, scaled 2x.
  assert Image.open(out / "grid.png").size == (2 * (16 * 34 + 2), 2 * (8 * 34 + 2))


def test_help_lists_subcommands_and_flags_and_bad_flags_exit_2():
  code, stdout, stderr = run("--help")
  assert code == 0
  for text in ("inpaint-jax demo", "inpaint-jax inpaint", "--mask_type", "--paste_back"):
    assert text in stdout + stderr, text
  code, _, stderr = run("inpaint", "--no_such_flag=1")
  assert code == 2 and "no_such_flag" in _error_line(stderr)


def test_folder_in_folder_out(model_file, tmp_path):
  src = tmp_path / "in"
  src.mkdir()
  for i in range(3):
    Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(src / f"p{i}.png")
  (src / "readme.txt").write_text("not a photo")
  out = tmp_path / "out"
  code, _, stderr = run("inpaint", "--input_dir", str(src), "--mask_type", "half",
                        "--output_dir", str(out), "--checkpoint", model_file, "--iterations", "2")
  assert code == 0, stderr[-2000:]
  assert sorted(os.listdir(out)) == ["p0.png", "p1.png", "p2.png"]


def test_two_inputs_with_one_stem_are_refused_and_jpeg_follows_the_extension(model_file, tmp_path):
  src = tmp_path / "in"
  src.mkdir()
  for name in ("a.png", "a.jpg"):
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(src / name)
  code, _, stderr = run("inpaint", "--input_dir", str(src), "--mask_type", "center",
                        "--output_dir", str(tmp_path / "out"), "--checkpoint", model_file,
                        "--iterations", "2")
  assert code == 2 and "would both be written to" in _error_line(stderr)
  assert not (tmp_path / "out").exists()
  out = str(tmp_path / "r.jpg")
  code, _, stderr = run("inpaint", "--image", str(src / "a.png"), "--mask_type", "center",
                        "--out", out, "--checkpoint", model_file, "--iterations", "2")
  assert code == 0, stderr[-2000:]
  assert Image.open(out).format == "JPEG"


def test_a_write_that_fails_leaves_no_result_at_all(model_file, tmp_path):
  """A full disk, simulated by a file-size limit: the large second result cannot be
  written, so neither is (all or nothing), and the error is one line."""
  src = tmp_path / "in"
  src.mkdir()
  Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(src / "a_small.png")
  noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
  Image.fromarray(noise).save(src / "b_large.png")
  out = tmp_path / "out"
  # 195 KiB per file: the small result fits, the pasted-back large one (~480 KB) does not.
  proc = subprocess.run(
      ["bash", "-c", 'ulimit -f 195 && exec "$@"', "bash"] + _cli()
      + ["inpaint", "--input_dir", str(src), "--mask_type", "center", "--output_dir", str(out),
         "--checkpoint", model_file, "--iterations", "2", "--paste_back"],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "no result was written" in _error_line(proc.stderr)
  assert not out.exists() or os.listdir(out) == []


def test_all_known_mask_copies_the_input(model_file, tmp_path):
  img = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
  Image.fromarray(img).save(tmp_path / "p.png")
  Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "m.png")
  out = str(tmp_path / "r.png")
  code, stdout, _ = run("inpaint", "--image", str(tmp_path / "p.png"), "--mask",
                        str(tmp_path / "m.png"), "--out", out, "--checkpoint", model_file,
                        "--iterations", "2")
  assert code == 0 and "no missing pixel; the input is copied" in stdout
  assert "searching z" not in stdout  # nothing to fill, so no search is run
  np.testing.assert_array_equal(np.asarray(Image.open(out)), img)


def test_a_hole_smaller_than_a_model_pixel_is_still_filled(model_file, tmp_path):
  """A 2x2 scratch in a 256px photo covers 1/16 of one model pixel (32x32 model): that
  model pixel counts as missing, so the scratch is filled and nothing else changes."""
  img = np.random.default_rng(2).integers(0, 255, (256, 256, 3), dtype=np.uint8)
  Image.fromarray(img).save(tmp_path / "p.png")
  mask = np.full((256, 256), 255, np.uint8)
  mask[129:131, 65:67] = 0  # away from the pixel centres a nearest-neighbour shrink samples
  Image.fromarray(mask).save(tmp_path / "m.png")
  out = str(tmp_path / "r.png")
  code, stdout, stderr = run("inpaint", "--image", str(tmp_path / "p.png"), "--mask",
                             str(tmp_path / "m.png"), "--out", out, "--checkpoint", model_file,
                             "--iterations", "2", "--paste_back")
  assert code == 0, stderr[-2000:]
  assert "0.1% missing" in stdout and "searching z for 1 photo(s)" in stdout
  result = np.asarray(Image.open(out))
  changed = (result != img).any(-1)
  assert changed[129:131, 65:67].all() and changed.sum() == 4


def test_an_animated_file_is_filled_from_its_first_frame_and_says_so(model_file, tmp_path):
  frames = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (40, 200, 120)]
  frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
  out = str(tmp_path / "r.png")
  code, stdout, stderr = run("inpaint", "--image", str(tmp_path / "a.gif"), "--mask_type",
                             "center", "--out", out, "--checkpoint", model_file,
                             "--iterations", "2")
  assert code == 0, stderr[-2000:]
  assert "animated (3 frames): only the first is filled" in stdout
  result = np.asarray(Image.open(out).convert("RGB"))
  assert (result[0, 0] == 40).all()  # a known pixel of the first frame


def test_all_missing_mask_generates(model_file, tmp_path):
  Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "p.png")
  Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "m.png")
  out = str(tmp_path / "r.png")
  code, stdout, _ = run("inpaint", "--image", str(tmp_path / "p.png"), "--mask",
                        str(tmp_path / "m.png"), "--out", out, "--checkpoint", model_file,
                        "--iterations", "2")
  assert code == 0 and "every pixel is missing" in stdout
  assert os.path.exists(out)


def _bad_model(tmp_path, nan=False):
  config = tiny.get_config()
  other = tiny.get_config()
  other.model.ngf = 16
  g_vars, d_vars = models.init_variables(config.model if nan else other.model, jax.random.PRNGKey(0))
  if nan:
    g_vars = jax.tree.map(lambda a: np.full_like(a, np.nan), g_vars)
  path = str(tmp_path / ("nan.msgpack" if nan else "other.msgpack"))
  model_files.export_model(path, config, g_vars, d_vars)  # config says ngf=8
  return path


@pytest.mark.parametrize("case", ["missing_image", "not_an_image", "mask_size", "architecture",
                                  "not_writable", "nan", "bad_iterations", "no_mask",
                                  "out_is_input", "out_is_folder", "out_extension"])
def test_bad_input_one_line_error_and_nothing_written(case, model_file, photo, tmp_path):
  out = str(tmp_path / "result.png")
  args = ["inpaint", "--image", photo, "--mask_type", "center", "--out", out,
          "--checkpoint", model_file, "--iterations", "2"]
  expect = {
      "missing_image": "image file does not exist",
      "not_an_image": "is not a readable image",
      "mask_size": "is 10x10 but image",
      "architecture": "does not match the architecture",
      "not_writable": "output folder is not writable",
      "nan": "NaN",
      "bad_iterations": "--iterations must be at least 1",
      "no_mask": "exactly one of --mask or --mask_type",
      "out_is_input": "would overwrite what the command reads",
      "out_is_folder": "is a folder",
      "out_extension": "must end in one of .png, .jpg, .jpeg",
  }[case]
  if case == "missing_image":
    args[2] = str(tmp_path / "nowhere.jpg")
  elif case == "not_an_image":
    (tmp_path / "fake.jpg").write_text("hello")
    args[2] = str(tmp_path / "fake.jpg")
  elif case == "mask_size":
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "m.png")
    args[3:5] = ["--mask", str(tmp_path / "m.png")]
  elif case == "architecture":
    args[8] = _bad_model(tmp_path)
  elif case == "not_writable":
    (tmp_path / "a_file").write_text("x")
    out = str(tmp_path / "a_file" / "result.png")
    args[6] = out
  elif case == "nan":
    args[8] = _bad_model(tmp_path, nan=True)
  elif case == "bad_iterations":
    args[10] = "0"
  elif case == "no_mask":
    args[3:5] = []
  elif case == "out_is_input":
    args[6] = out = photo
  elif case == "out_is_folder":
    os.makedirs(str(tmp_path / "folder.png"))
    args[6] = out = str(tmp_path / "folder.png")
  elif case == "out_extension":
    args[6] = out = str(tmp_path / "result.tiff")
  before = open(photo, "rb").read()
  code, _, stderr = run(*args)
  assert code == 2
  assert expect in _error_line(stderr)
  assert open(photo, "rb").read() == before
  if case == "out_is_input":
    return
  assert not os.path.isfile(out)
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_encoder_start_tuning_mirror_and_k_fills_side_by_side(photo, tmp_path):
  from inpaint_jax.models import latent_encoder  # pylint: disable=g-import-not-at-top
  model_file = export_tiny_model(tmp_path / "model.msgpack", distinct_fills=True)
  config, g_vars, _ = model_files.load_model(model_file)
  encoder = str(tmp_path / "encoder.msgpack")
  e_vars = latent_encoder.init_variables(config.encoder, config.model, jax.random.PRNGKey(1))
  model_files.export_encoder(encoder, config.encoder, e_vars, g_vars)
  out = str(tmp_path / "fills.png")
  code, _, stderr = run("inpaint", "--image", photo, "--mask_type", "center", "--out", out,
                        "--checkpoint", model_file, "--iterations", "3", "--restarts", "3",
                        "--fills", "2", "--start", "encoder", "--encoder", encoder,
                        "--tune_steps", "2", "--mirror")
  assert code == 0, stderr[-2000:]
  pad = 2  # images.grid's border
  assert Image.open(out).size == (2 * 32 + 3 * pad, 32 + 2 * pad)
  code, _, stderr = run("inpaint", "--image", photo, "--mask_type", "center", "--out", out,
                        "--checkpoint", model_file, "--start", "encoder")
  assert code == 2 and "has no shipped latent encoder" in _error_line(stderr)
  code, _, stderr = run("inpaint", "--image", photo, "--mask_type", "center", "--out", out,
                        "--checkpoint", model_file, "--fills", "3", "--restarts", "2")
  assert code == 2 and "fills must be between 1 and the number of restarts (2)" in _error_line(stderr)


def test_compiled_programs_are_kept_between_runs(model_file, photo, tmp_path):
  # As a user has it: no JAX cache settings in the environment (conftest sets them).
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE",
                                                                   "JAX_PERSISTENT_CACHE"))}
  args = ["inpaint", "--image", photo, "--mask_type", "center", "--checkpoint", model_file,
          "--iterations", "3", "--out", str(tmp_path / "out.png")]
  entries = lambda folder: os.listdir(folder) if os.path.isdir(folder) else []
  env["XDG_CACHE_HOME"] = str(tmp_path / "default")
  code, _, stderr = run(*args, env=env)
  assert code == 0, stderr[-2000:]
  assert entries(tmp_path / "default" / "inpaint_jax" / "xla"), "nothing cached by default"
  env["XDG_CACHE_HOME"] = str(tmp_path / "off")
  code, _, stderr = run(*args, "--compilation_cache=none", env=env)
  assert code == 0, stderr[-2000:]
  assert not (tmp_path / "off").exists()
  code, _, stderr = run(*args, "--compilation_cache", str(tmp_path / "mine"), env=env)
  assert code == 0, stderr[-2000:]
  assert entries(tmp_path / "mine") and not (tmp_path / "off").exists()
