"""Faults a hostile user meets, one test per class, through the real entry points.

Classes tested beside the feature they break (kept there, listed here so that every class
has its place): resume with other settings and damaged manifests
(test_split_inpainting.py::test_killed_run_resumes_to_the_same_csv and the refusal below);
a damaged checkpoint, another architecture, two writers, bad training settings
(test_train.py); outputs over inputs, shared stems, full disk, bad flags, --help
(test_cli.py); image modes and grey masks (test_input_pipeline.py).
"""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import write_images
from inpaint_jax.configs import presets
from inpaint_jax.configs import tiny
from inpaint_jax.data import sources
from inpaint_jax.evaluation import runner
from inpaint_jax.models import dcgan as models
from inpaint_jax.train import checkpoints

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
  checkpoints.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  return folder, model


def _split(folder, model, out, *extra):
  cmd = [sys.executable, os.path.join(REPO, "experiments", "inpaint_split.py"),
         f"--checkpoint={model}", f"--folder={folder}", "--split=all", f"--out={out}",
         "--iterations=2", "--batch_size=2", "--write_images=false"] + list(extra)
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  errors = [l for l in proc.stderr.splitlines() if "error:" in l]
  return proc.returncode, errors, proc.stderr


def test_a_split_restarted_with_other_settings_is_refused(setup, tmp_path):
  folder, model = setup
  out = str(tmp_path / "cell")
  code, _, err = _split(folder, model, out)  # mask type: center, the default
  assert code == 0, err[-2000:]
  before = open(os.path.join(out, "results.csv")).read()
  for flag, shown in (("--mask_type=half", "mask_type 'center' there, 'half' now"),
                      ("--iterations=3", "settings.iterations 2 there, 3 now"),
                      ("--num_images=3", "images 4 there, 3 now")):
    code, errors, err = _split(folder, model, out, flag)
    assert code == 2 and len(errors) == 1 and shown in errors[0], err[-2000:]
    assert "Traceback" not in err
  assert open(os.path.join(out, "results.csv")).read() == before  # untouched
  code, _, err = _split(folder, model, out, "--mask_type=half", "--fresh")
  assert code == 0, err[-2000:]
  assert ",half," in open(os.path.join(out, "results.csv")).read()


def test_values_that_make_no_sense_are_one_line_errors(setup, tmp_path):
  folder, model = setup
  code, errors, err = _split(folder, model, str(tmp_path / "cell"), "--iterations=0")
  assert code == 2 and len(errors) == 1, err[-2000:]
  assert "iterations must be at least 1, got 0" in errors[0]
  # The same checks in this process (each is what the command line reports in one line).
  config, g_vars, d_vars = checkpoints.load_model(model)
  method = runner.ours({"generator": g_vars, "discriminator": d_vars}, config)
  source = sources.FolderSource(folder, "all", sources.CropRule("none", 1.0, 32))
  for kwargs, message in (({"batch_size": 0}, "batch size must be at least 1, got 0"),
                          ({"num_images": -3}, "number of images must be at least 1"),
                          ({"seed": -1}, "seed must be a non-negative integer, got -1")):
    with pytest.raises(ValueError, match=message):
      runner.run_cell(source, method, str(tmp_path / "cell"), "center", **kwargs)
  with pytest.raises(ValueError, match="restarts must be at least 1, got -1"):
    presets.with_overrides(config, restarts=-1)
  with pytest.raises(ValueError, match="halving_every must be 0 .off. or positive, got -5"):
    presets.with_overrides(config, halving_every=-5)
  for kwargs, message in (({"stop_every": -2}, "stop_every must be 0 .off. or positive, got -2"),
                          ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
                          ({"lr_schedule": "linear"}, "lr_schedule must be 'constant' or "
                                                      "'cosine', got 'linear'")):
    with pytest.raises(ValueError, match=message):
      presets.with_overrides(config, **kwargs)
  presets.with_overrides(config, restarts=4, halving_every=10, stop_every=50, lr_schedule="cosine",
                         mirror=True)
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


def test_one_cpu_device_per_core_keeps_what_the_user_set(monkeypatch):
  from inpaint_jax import commands  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=true")
  commands.one_cpu_device_per_core()
  assert os.environ["XLA_FLAGS"] == ("--xla_cpu_use_thunk_runtime=true "
                                     "--xla_force_host_platform_device_count=3")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
  commands.one_cpu_device_per_core()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
  monkeypatch.delenv("XLA_FLAGS")
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
  commands.one_cpu_device_per_core()
  assert "XLA_FLAGS" not in os.environ


def test_a_path_that_cannot_be_read_or_written_is_a_one_line_error(tmp_path, monkeypatch,
                                                                   capsys):
  """Every command's main goes through `report_user_errors`: an OSError (a folder that
  cannot be made, a permission refused) is one line without its errno, exit status 2."""
  from inpaint_jax import commands  # pylint: disable=import-outside-toplevel
  from inpaint_jax.data import images as images_lib  # pylint: disable=import-outside-toplevel
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
