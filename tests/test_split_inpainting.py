"""Whole-split inpainting and per-image determinism, run as users run them: subprocesses
(a JAX process's device count is fixed when it starts), two hosts under jax.distributed,
kill-and-resume. Marked slow: each test starts several Python processes."""

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
from PIL import Image
import pytest

from conftest import host_devices_env
from conftest import write_images
from inpaint_jax import model_files
from inpaint_jax.configs import tiny
from inpaint_jax.core import inpaint as inpaint_lib
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import runner
from inpaint_jax.models import dcgan as models

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLIT = os.path.join(REPO, "experiments", "inpaint_split.py")
ITERATIONS, RESTARTS, MASK = 8, 2, "pattern"


def _setup(tmp_path, count=12):
  folder = str(tmp_path / "imgs")
  write_images(folder, count, size=(32, 32))
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(tmp_path / "tiny.msgpack")
  model_files.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  return folder, model


def _start(cmd, devices=1):
  return subprocess.Popen([sys.executable] + cmd, env=host_devices_env(devices), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _split_cmd(folder, model, out, batch, iterations=ITERATIONS, extra=()):
  return [SPLIT, f"--config={REPO}/inpaint_jax/configs/split.py:paper",
          f"--config.checkpoint={model}", f"--config.folder={folder}", "--config.split=all",
          f"--out={out}", f"--config.mask_type={MASK}", f"--config.search.iterations={iterations}",
          f"--config.batch_size={batch}", f"--config.search.restarts={RESTARTS}"] + list(extra)


def _finish(proc):
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return out + err


def _rows(out):
  with open(os.path.join(out, "results.csv")) as f:
    return list(csv.DictReader(f))


def _same_rows(a, b):
  assert [r["id"] for r in a] == [r["id"] for r in b]
  for x, y in zip(a, b):
    assert (x["pixel_hash"], x["mask_seed"]) == (y["pixel_hash"], y["mask_seed"])
    for col in ("psnr_hole", "psnr_whole", "ssim", "total_loss"):
      np.testing.assert_allclose(float(x[col]), float(y[col]), rtol=1e-4, atol=1e-4)


def _png(path):
  return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_one_image_gets_the_same_fill_through_every_path(tmp_path):
  """Image 000004 alone (Python API), at position 3 of a batch of 7, in chunks of 2, through
  the split runner with batch sizes 2 and 3 on 1 and 4 devices, and through the CLI.

  Tolerance: the search runs in float32 and XLA:CPU picks kernels by batch size, so a batch
  of one can differ from a batch of seven by an ulp (measured 1.2e-7); the written PNGs
  agree to one grey level, the arrays to 1e-5. Equal batch shapes give identical bits.
  """
  folder, model = _setup(tmp_path, count=7)
  runs = {"batch 2, 1 device": (2, 1), "batch 3, 4 devices": (3, 4)}
  procs = {name: _start(_split_cmd(folder, model, str(tmp_path / f"out{b}"), b), devices=d)
           for name, (b, d) in runs.items()}
  cli_out = str(tmp_path / "cli.png")
  cli_proc = _start(["-m", "inpaint_jax.cli", "inpaint", "--image",
                     os.path.join(folder, "000004.jpg"), "--mask_type", MASK, "--out", cli_out,
                     "--checkpoint", model, "--iterations", str(ITERATIONS),
                     "--restarts", str(RESTARTS)])
  for proc in procs.values():
    _finish(proc)
  _finish(cli_proc)
  _same_rows(_rows(str(tmp_path / "out2")), _rows(str(tmp_path / "out3")))

  # In this process: the same image alone, in a batch of 7 at position 3, in chunks of 2.
  config, g_vars, d_vars = model_files.load_model(model)
  config.search.iterations, config.search.restarts = ITERATIONS, RESTARTS
  params = {"generator": g_vars, "discriminator": d_vars}
  source = sources.FolderSource(folder, "all", sources.CropRule("none", 1.0, 32))
  pixels = np.stack([source[i] for i in range(7)])
  assert source.ids()[3] == "000004.jpg"
  x = images_lib.to_float(pixels)
  m = masks_lib.make_masks(MASK, 32, 0, images_lib.pixel_hashes(pixels))
  alone = inpaint_lib.inpaint(x[3:4], m[3:4], params, config).blended[0]
  batch = inpaint_lib.inpaint(x, m, params, config).blended[3]
  config.search.batch_size = 2
  chunks = inpaint_lib.inpaint(x, m, params, config).blended[3]
  np.testing.assert_allclose(alone, batch, atol=1e-5)
  np.testing.assert_array_equal(chunks, batch)

  reference = images_lib.to_uint8(alone).astype(int)
  pictures = {"cli": _png(cli_out)}
  for b in (2, 3):
    pictures[f"batch {b}"] = _png(runner.image_path(str(tmp_path / f"out{b}"), "000004.jpg", MASK,
                                                    "filled"))
  for name, picture in pictures.items():
    assert np.abs(picture - reference).max() <= 1, name
  # And the fill is not trivially the input: the hole was really filled.
  assert np.abs(reference - pixels[3].astype(int))[m[3] == 0].mean() > 1


def test_bad_flags_and_missing_files_are_one_line_errors_with_status_2(tmp_path):
  for args, expect in ((["--config.checkpoint=/no/such/model"], "--out"),
                       ([f"--out={tmp_path / 'o'}", "--config.checkpoint=/no/such/model"],
                        "checkpoint does not exist: /no/such/model"),
                       ([f"--out={tmp_path / 'o'}", "--config.num_images=many"],
                        "--config.num_images=many")):
    proc = _start([SPLIT] + args)
    _, err = proc.communicate(timeout=300)
    lines = [l for l in err.splitlines() if "error:" in l]
    assert proc.returncode == 2 and len(lines) == 1 and expect in lines[0], err[-2000:]
    assert "Traceback" not in err


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_hosts_under_jax_distributed_equal_one_process(tmp_path):
  folder, model = _setup(tmp_path, count=9)  # 5 batches of 2: host 0 takes 3, host 1 takes 2
  single = str(tmp_path / "single")
  shared = str(tmp_path / "shared")
  address = f"127.0.0.1:{_free_port()}"
  hosts = [_start(_split_cmd(folder, model, shared, 2, extra=(
      f"--coordinator_address={address}", "--num_processes=2", f"--process_id={p}")))
           for p in (0, 1)]
  one = _start(_split_cmd(folder, model, single, 2))
  logs = [_finish(p) for p in hosts]
  alone = _finish(one)
  # One line for a person: the mean hole PSNR with its standard error and the image count.
  assert re.search(r"PSNR hole +[0-9.]+ ± [0-9.]+ dB.*\(9 images", alone), alone[-2000:]
  assert any("(9 images" in log for log in logs)  # the host that merged the cell says so
  assert os.path.isfile(os.path.join(shared, "results.csv")), logs
  rows = _rows(shared)
  assert len(rows) == 9 and len({r["id"] for r in rows}) == 9
  _same_rows(_rows(single), rows)
  assert len(os.listdir(os.path.join(shared, "images"))) == 4 * 9  # original, masked, G(z), filled


def test_killed_run_resumes_to_the_same_csv(tmp_path):
  folder, model = _setup(tmp_path, count=16)
  whole = str(tmp_path / "whole")
  _finish(_start(_split_cmd(folder, model, whole, 2, iterations=60)))

  broken = str(tmp_path / "broken")
  proc = _start(_split_cmd(folder, model, broken, 2, iterations=60))
  rows_dir = os.path.join(broken, "rows")
  manifests = lambda: sorted(n for n in os.listdir(rows_dir) if n.endswith(".csv")
                             and not n.startswith("."))
  deadline = time.time() + 300
  while time.time() < deadline:
    if os.path.isdir(rows_dir) and len(manifests()) >= 3:
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = manifests()
  assert 3 <= len(done) < 8 and not os.path.exists(os.path.join(broken, "results.csv"))
  # Damage two manifests: one emptied, one garbage. Their images must be done again.
  open(os.path.join(rows_dir, done[0]), "w").close()
  with open(os.path.join(rows_dir, done[1]), "w") as f:
    f.write("garbage,1,2\n")
  # Resume with another batch size: finished images are known by id, not by batch.
  log = _finish(_start(_split_cmd(folder, model, broken, 3, iterations=60)))
  assert f"resuming: {2 * (len(done) - 2)} of 16 images already done" in log
  assert log.count("is damaged") == 2
  a, b = _rows(whole), _rows(broken)
  assert len(b) == 16 and len({r["id"] for r in b}) == 16
  _same_rows(a, b)
