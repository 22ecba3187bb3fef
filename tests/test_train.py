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


def test_bad_settings_are_refused_before_anything_is_written(image_folder, tmp_path):
  for key, value, message in (("learning_rate", -1e-3, "learning_rate must be positive"),
                              ("log_every", 0, "log_every must be a positive integer"),
                              ("batch_size", 0, "batch_size must be a positive integer"),
                              ("beta1", 1.0, r"beta1 must lie in \[0, 1\)")):
    config = _config(image_folder)
    config[key] = value
    workdir = tmp_path / key
    with pytest.raises(ValueError, match=message):
      train.train_and_evaluate(config, str(workdir))
    assert not workdir.exists()


def test_another_architecture_is_refused_and_the_workdir_left_intact(image_folder, tmp_path):
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(_config(image_folder, num_steps=2), workdir)
  before = open(os.path.join(workdir, "config.json")).read()
  other = _config(image_folder, num_steps=4)
  other.model.ngf = 16
  with pytest.raises(ValueError, match=r"another model \(model.ngf 8 there, 16 now\)"):
    train.train_and_evaluate(other, workdir)
  assert open(os.path.join(workdir, "config.json")).read() == before
  assert checkpoints.load_model(workdir)[0].model.ngf == 8  # still loads


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(image_folder, tmp_path):
  straight = train.train_and_evaluate(_config(image_folder, num_steps=8), str(tmp_path / "a"))
  workdir = str(tmp_path / "b")
  train.train_and_evaluate(_config(image_folder, num_steps=6), workdir)
  latest = os.path.join(workdir, "checkpoints", "6")
  for root, _, files in os.walk(latest):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"\x00garbage")
  resumed = train.train_and_evaluate(_config(image_folder, num_steps=8), workdir)
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "damaged-6"))
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # resumed from 4, same result


@pytest.mark.slow
def test_a_second_writer_on_a_workdir_is_refused(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 40)
  workdir = str(tmp_path / "run")
  first = _run_entry_point(folder, workdir, 100_000)
  try:
    lock = os.path.join(workdir, ".lock")
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.exists(lock) and open(lock).read().strip()):
      time.sleep(0.1)
    second = _run_entry_point(folder, workdir, 10)
    _, err = second.communicate(timeout=120)
    lines = [l for l in err.decode().splitlines() if "error:" in l]
    assert second.returncode == 2 and len(lines) == 1, err.decode()[-2000:]
    assert f"another process (pid {first.pid}) is training in {workdir}" in lines[0]
    assert "Traceback" not in err.decode()
  finally:
    first.kill()
    first.wait()
