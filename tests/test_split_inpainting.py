"""Whole-split inpainting: device-count independence and kill-and-resume, via subprocesses
(the device count of a JAX process is fixed when it starts)."""

import csv
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from conftest import write_images
from inpaint_jax import checkpoints
from inpaint_jax import models
from inpaint_jax.configs import tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup(tmp_path, count=12):
  folder = str(tmp_path / "imgs")
  write_images(folder, count, size=(32, 32))
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(tmp_path / "tiny.msgpack")
  checkpoints.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  return folder, model


def _start(folder, model, out, devices, iterations=8, batch=4, mask="pattern"):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  cmd = [sys.executable, os.path.join(REPO, "experiments", "inpaint_split.py"),
         f"--checkpoint={model}", f"--folder={folder}", "--split=all", f"--out={out}",
         f"--mask_type={mask}", f"--iterations={iterations}", f"--batch_size={batch}",
         "--restarts=2"]
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(out):
  with open(os.path.join(out, "results.csv")) as f:
    return list(csv.DictReader(f))


def test_four_devices_give_the_same_per_image_results_as_one(tmp_path):
  folder, model = _setup(tmp_path, count=10)  # 10 images, batch 4: the last batch is padded
  outs = {}
  for devices in (1, 4):
    out = str(tmp_path / f"out{devices}")
    proc = _start(folder, model, out, devices)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    outs[devices] = _rows(out)
  assert [r["id"] for r in outs[1]] == [f"{i:06d}.jpg" for i in range(1, 11)]
  for a, b in zip(outs[1], outs[4]):
    assert a["id"] == b["id"] and a["seed"] == b["seed"]
    for col in ("psnr_hole", "psnr_whole", "ssim", "total_loss"):
      np.testing.assert_allclose(float(a[col]), float(b[col]), rtol=1e-3, atol=1e-4)
  assert len(os.listdir(os.path.join(tmp_path, "out4", "images"))) == 4 * 10


def test_killed_run_resumes_to_the_same_csv(tmp_path):
  folder, model = _setup(tmp_path, count=16)
  whole = str(tmp_path / "whole")
  proc = _start(folder, model, whole, 1, iterations=60, batch=2)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]

  broken = str(tmp_path / "broken")
  proc = _start(folder, model, broken, 1, iterations=60, batch=2)
  rows_dir = os.path.join(broken, "rows")
  deadline = time.time() + 300
  while time.time() < deadline:
    if os.path.isdir(rows_dir) and len([n for n in os.listdir(rows_dir) if n.endswith(".csv")]) >= 2:
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = [n for n in os.listdir(rows_dir) if n.endswith(".csv")]
  assert 2 <= len(done) < 8 and not os.path.exists(os.path.join(broken, "results.csv"))
  proc = _start(folder, model, broken, 1, iterations=60, batch=2)
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  assert f"resuming: {len(done)} of 8 batches already done" in out + err
  a, b = _rows(whole), _rows(broken)
  assert len(b) == 16 and len({r["id"] for r in b}) == 16
  assert a == b
