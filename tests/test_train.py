import os
import signal
import subprocess
import sys
import time

import flax.struct
from flax.serialization import to_state_dict as flax_state_dict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import host_devices_env
from conftest import write_images
from inpaint_jax import model_files
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
  restored_config, g_vars, _ = model_files.load_model(workdir)
  assert restored_config.model.ngf == config.model.ngf
  assert g_vars["params"]["project"]["kernel"].shape == (16, 4 * 4 * 32)


def _run_entry_point(folder, workdir, num_steps):
  cmd = [sys.executable, os.path.join(REPO, "experiments", "train_dcgan.py"),
         "--config", os.path.join(REPO, "inpaint_jax", "configs", "tiny.py"),
         "--workdir", workdir, f"--config.dataset.folder={folder}",
         f"--config.num_steps={num_steps}", "--config.checkpoint_every=4",
         "--config.keep_checkpoints=50", "--config.progress_bar=False"]
  return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_run(tmp_path):
  folder = str(tmp_path / "imgs")
  write_images(folder, 40)
  whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
  steps = 60
  ref = _run_entry_point(folder, whole, steps)
  assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()[-2000:]

  proc = _run_entry_point(folder, broken, steps)
  ckpt_dir = os.path.join(broken, "checkpoints")
  deadline = time.time() + 300
  while time.time() < deadline:
    done = [d for d in os.listdir(ckpt_dir) if d.isdigit()] if os.path.isdir(ckpt_dir) else []
    if done and max(map(int, done)) >= 8:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)  # no chance to clean up or save
  proc.wait()
  killed_at = checkpoints.latest_step(broken)
  assert killed_at is not None and 8 <= killed_at < steps
  resumed = _run_entry_point(folder, broken, steps)
  assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
  assert b"resumed from step" in resumed.stderr.read()

  _, g_a, d_a = model_files.load_model(whole)
  _, g_b, d_b = model_files.load_model(broken)
  raw_a, raw_b = (model_files.load_model(w, ema=False)[1] for w in (whole, broken))
  for a, b in ((g_a, g_b), (d_a, d_b), (raw_a, raw_b)):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


def test_bad_settings_are_refused_before_anything_is_written(image_folder, tmp_path):
  for key, value, message in (("learning_rate", -1e-3, "learning_rate must be positive"),
                              ("log_every", 0, "log_every must be a positive integer"),
                              ("batch_size", 0, "batch_size must be a positive integer"),
                              ("beta1", 1.0, r"beta1 must lie in \[0, 1\)"),
                              ("diff_augment", "color,flip", "unknown augmentation 'flip'")):
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
  assert model_files.load_model(workdir)[0].model.ngf == 8  # still loads


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


def test_the_moving_average_of_g_is_the_hand_computed_one(image_folder):
  config = _config(image_folder, ema_decay=0.5)
  state = train.create_train_state(config, jax.random.PRNGKey(0))
  src = ip.make_source(config.dataset, "all", config.model.image_size)
  step = jax.jit(train.make_train_step(config))
  expected = jax.device_get(state.g.params)
  for s in range(3):
    state, _ = step(state, {"image": ip.training_batch(src, 8, 0, s)}, loop.step_rng(0, s))
    decay = min(0.5, (1 + s) / (10 + s))  # the warm-up ramp, then config.ema_decay
    expected = jax.tree.map(lambda e, g: decay * e + (1 - decay) * g, expected,
                            jax.device_get(state.g.params))
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(jax.device_get(state.g_ema["params"]))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert not np.allclose(jax.tree.leaves(state.g_ema["params"])[0],
                         jax.tree.leaves(state.g.params)[0])


def test_step_keys_are_step_rng_made_in_blocks():
  keys = loop.StepKeys(seed=3, block=16)
  for s in (0, 5, 15, 16, 40, 3):
    np.testing.assert_array_equal(keys[s], np.asarray(loop.step_rng(3, s)))


def test_a_checkpoint_from_before_the_average_resumes_with_it_starting_at_g(image_folder, tmp_path):
  workdir = str(tmp_path / "run")
  config = _config(image_folder, num_steps=4, checkpoint_every=4)
  state = train.train_and_evaluate(config, workdir)
  manager = checkpoints.make_manager(workdir, 4, 2)
  old_layout = {k: v for k, v in flax_state_dict(state).items() if k != "g_ema"}
  manager.save(5, args=checkpoints.ocp.args.StandardSave(old_layout), force=True)
  manager.wait_until_finished()
  manager.close()
  restored, step = checkpoints.restore_latest(
      checkpoints.make_manager(workdir, 4, 2), train.create_train_state(config, jax.random.PRNGKey(1)),
      train.upgrade_checkpoint)
  assert step == 5
  for a, b in zip(jax.tree.leaves(restored.g_ema), jax.tree.leaves(restored.g.variables())):
    np.testing.assert_array_equal(a, b)
  assert os.listdir(os.path.join(workdir, "checkpoints")).count("damaged-5") == 0


def test_training_can_start_from_a_model_file(image_folder, tmp_path):
  config = _config(image_folder, num_steps=2)
  train.train_and_evaluate(config, str(tmp_path / "a"))
  _, g_vars, d_vars = model_files.load_model(str(tmp_path / "a"))
  model = str(tmp_path / "a.msgpack")
  model_files.export_model(model, config, g_vars, d_vars, dtype=np.float32)
  start = train.create_train_state(_config(image_folder, init_from=model), jax.random.PRNGKey(7))
  for a, b in ((g_vars, start.g.variables()), (g_vars, start.g_ema), (d_vars, start.d.variables())):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)
  other = _config(image_folder, init_from=model)
  other.model.ngf = 16
  with pytest.raises(ValueError, match="does not match the architecture"):
    train.create_train_state(other, jax.random.PRNGKey(0))


@pytest.mark.slow
def test_data_parallel_over_two_host_devices_matches_one_device(image_folder, tmp_path):
  script = (
      "import sys, jax, numpy as np\n"
      "from inpaint_jax.configs import tiny\n"
      "from inpaint_jax.train import dcgan, checkpoints\n"
      "c = tiny.get_config(); c.dataset.folder = sys.argv[1]; c.num_steps = 3\n"
      "c.progress_bar = False; c.batch_size = 8\n"
      "dcgan.train_and_evaluate(c, sys.argv[2])\n"
      "print('devices', jax.local_device_count())\n")
  out = {}
  for n in (1, 2):
    proc = subprocess.run([sys.executable, "-c", script, image_folder, str(tmp_path / str(n))],
                          env=host_devices_env(n), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"devices {n}" in proc.stdout
    out[n] = model_files.load_model(str(tmp_path / str(n)), ema=False)
  for a, b in zip(jax.tree.leaves(out[1][1:]), jax.tree.leaves(out[2][1:])):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


class _CountState(flax.struct.PyTreeNode):
  step: jax.Array


def _counting_task(nan_at=None):
  """A task whose metric at step s is s (NaN at step `nan_at`): logged means are known."""

  def train_step(state, batch, rng):
    del batch, rng
    value = state.step.astype(np.float32)
    if nan_at is not None:
      value = jnp.where(state.step == nan_at, jnp.nan, value)
    return state.replace(step=state.step + 1), {"value": value}

  return loop.Task(name="count", init_state=lambda source: _CountState(step=jnp.zeros((), jnp.int32)),
                   train_step=train_step, make_batch=lambda step, images: images,
                   picture=lambda state, source: np.zeros((4, 4, 3), np.uint8), shown="value")


def _count_config(**overrides):
  config = tiny.get_config()
  config.update(dict(num_steps=7, batch_size=2, log_every=3, sample_every=100, checkpoint_every=100,
                     progress_bar=False, **overrides))
  return config


def test_logged_metrics_are_means_over_the_steps_since_the_last_log(tmp_path, monkeypatch):
  logged = {}
  monkeypatch.setattr(loop.MetricWriter, "scalars",
                      lambda self, step, values: logged.__setitem__(step, values["value"]))
  source = np.zeros((4, 8, 8, 3), np.uint8)
  loop.train(_counting_task(), _count_config(), str(tmp_path / "a"), source)
  # steps 0-2, 3-5, then the last step 6 alone
  assert logged == {3: 1.0, 6: 4.0, 7: 6.0}


def test_a_non_finite_metric_between_logs_stops_training(tmp_path):
  source = np.zeros((4, 8, 8, 3), np.uint8)
  with pytest.raises(FloatingPointError, match="steps 4-6"):
    loop.train(_counting_task(nan_at=4), _count_config(), str(tmp_path / "a"), source)
