import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import write_images
from inpaint_jax.configs import tiny
from inpaint_jax.data import sources as ip
from inpaint_jax.train import checkpoints
from inpaint_jax.train import dcgan as train
from inpaint_jax.train import loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(folder, **overrides):
  config = tiny.get_config()
  config.dataset.folder = folder
  config.progress_bar = False
  for k, v in overrides.items():
    setattr(config, k, v)
  return config


def test_a_few_steps_change_parameters_and_stay_finite(image_folder):
  config = _config(image_folder)
  state = train.create_train_state(config, jax.random.PRNGKey(0))
  before = jax.device_get(state)
  step = jax.jit(train.make_train_step(config))
  src = ip.make_source(config.dataset, "all", config.model.image_size)
  for s in range(3):
    state, metrics = step(state, {"image": ip.training_batch(src, 8, 0, s)}, loop.step_rng(0, s))
    assert all(np.isfinite(float(v)) for v in metrics.values())
  assert int(state.step) == 3
  for name in ("g.params", "d.params", "g.batch_stats", "d.batch_stats"):
    net, field = name.split(".")
    get = lambda s: getattr(getattr(s, net), field)
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), get(before),
                           jax.device_get(get(state)))
    assert all(jax.tree.leaves(changed)), name
  assert 0.0 < float(metrics["d_real"]) < 1.0 and 0.0 < float(metrics["d_fake"]) < 1.0


def test_train_and_evaluate_writes_checkpoints_samples_and_events(image_folder, tmp_path):
  workdir = str(tmp_path / "run")
  config = _config(image_folder, num_steps=10)
  train.train_and_evaluate(config, workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["10", "5"]
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == ["step_0000010.png"]
  assert any(n.startswith("events.out.tfevents") for n in os.listdir(workdir))
  restored_config, g_vars, _ = checkpoints.load_model(workdir)
  assert restored_config.model.ngf == config.model.ngf
  assert g_vars["params"]["project"]["kernel"].shape == (16, 4 * 4 * 32)


def _run_entry_point(folder, workdir, num_steps):
  cmd = [sys.executable, os.path.join(REPO, "experiments", "train_dcgan.py"),
         "--config", os.path.join(REPO, "inpaint_jax", "configs", "tiny.py"),
         "--workdir", workdir, f"--config.dataset.folder={folder}",
         f"--config.num_steps={num_steps}", "--config.checkpoint_every=2",
         "--config.keep_checkpoints=50", "--config.progress_bar=False"]
  return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_run(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 40)
  whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
  steps = 200
  ref = _run_entry_point(folder, whole, steps)
  assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()[-2000:]

  proc = _run_entry_point(folder, broken, steps)
  ckpt_dir = os.path.join(broken, "checkpoints")
  deadline = time.time() + 300
  while time.time() < deadline:
    done = [d for d in os.listdir(ckpt_dir) if d.isdigit()] if os.path.isdir(ckpt_dir) else []
    if done and max(map(int, done)) >= 6:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)  # no chance to clean up or save
  proc.wait()
  killed_at = checkpoints.latest_step(broken)
  assert killed_at is not None and 6 <= killed_at < steps
  resumed = _run_entry_point(folder, broken, steps)
  assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
  assert b"resumed from step" in resumed.stderr.read()

  _, g_a, d_a = checkpoints.load_model(whole)
  _, g_b, d_b = checkpoints.load_model(broken)
  for a, b in ((g_a, g_b), (d_a, d_b)):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)
