"""The one training loop: every model (DCGAN, Context Encoder) brings a `Task`.

The loop is resumable: the batch of step `s` and the random key of step `s` depend only on
`(config.seed, s)`, so a run killed and started again from its latest checkpoint ends with
bit-identical parameters to an uninterrupted one (on the same device and software).
Nothing waits on the host between steps: batches and their keys (`StepKeys`, a block of
steps per device call) are made and copied to the device(s) in a background thread, metrics
are summed on the device and fetched (as means since the last log) only on logging steps,
and the state only on saving steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
from typing import Any, Callable, NamedTuple

from absl import logging
import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from inpaint_jax.data import images as images_lib
from inpaint_jax.data import sources
from inpaint_jax.models import layers
from inpaint_jax.train import checkpoints


@dataclasses.dataclass(frozen=True)
class Task:
  """What a model brings to the loop.

  init_state(source) -> the step-0 state (a flax struct with a `step` field);
  train_step(state, batch, rng) -> (state, metrics), pure (the loop jits it);
  picture(state, source) -> uint8 sample picture; shown: the metric on the progress bar;
  make_batch(step, images) -> the step's batch from its images [B, S, S, 3] in [-1, 1]
  (host work in the batch thread; anything random belongs in the step, from its key);
  upgrade(tree) -> a restored state dict of an older layout brought to the current one.
  """

  name: str
  init_state: Callable[[Any], Any]
  train_step: Callable[[Any, Any, jax.Array], tuple[Any, dict]]
  picture: Callable[[Any, Any], np.ndarray]
  shown: str
  make_batch: Callable[[int, np.ndarray], Any] = lambda step, images: {"image": images}
  upgrade: Callable[[dict], dict] = lambda tree: tree


def step_rng(seed: int, step: int | jax.Array) -> jax.Array:
  """The random key of training step `step`: a function of (seed, step) alone."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), step)


class StepKeys:
  """`step_rng(seed, step)` as host arrays, made a block of steps per device call.

  Deriving a key inside the jitted step costs ~10% of a small model's step on CPU (a
  chain of tiny kernels), and deriving it on the host per step costs a dispatch; this
  pays one call per `block` steps, in the batch thread.
  """

  def __init__(self, seed: int, block: int = 1024):
    self._block, self._first, self._keys = block, None, None
    self._make = jax.jit(jax.vmap(lambda step: step_rng(seed, step)))

  def __getitem__(self, step: int) -> np.ndarray:
    if self._first is None or not 0 <= step - self._first < self._block:
      self._first = step - step % self._block
      self._keys = np.asarray(self._make(np.arange(self._first, self._first + self._block,
                                                   dtype=np.int32)))
    return self._keys[step - self._first]


def _summing(train_step):
  """`train_step` that also adds its metrics to running sums: the log shows each metric's
  mean since the last log (one step's GAN losses swing widely), at no extra device call."""

  def step(state, sums, batch, rng):
    state, metrics = train_step(state, batch, rng)
    return state, jax.tree.map(lambda s, m: s + m.astype(s.dtype), sums, metrics)

  return step


def _zero_metrics(train_step, state, batch, rng) -> dict[str, np.ndarray]:
  """Zeros shaped like `train_step`'s metrics (float32 sums), from its traced shapes."""
  shapes = jax.eval_shape(train_step, state, batch, rng)[1]
  return {k: np.zeros(v.shape, np.float32) for k, v in shapes.items()}


class DataParallel(NamedTuple):
  batch: jax.sharding.NamedSharding  # leading (batch) axis split over the devices
  replicated: jax.sharding.NamedSharding


def data_parallel_sharding(batch_size: int) -> DataParallel | None:
  """How to spread a training step over this process's devices, or None for one device.

  With several local devices (GPUs, or CPU host devices from
  `--xla_force_host_platform_device_count`) the batch is split along its first axis and
  the state replicated; XLA inserts the gradient and batch-norm all-reduces.
  """
  devices = jax.local_devices()
  if len(devices) == 1:
    return None
  if batch_size % len(devices):
    raise ValueError(f"batch_size {batch_size} does not split evenly over {len(devices)} devices")
  mesh = jax.sharding.Mesh(np.array(devices), ("data",))
  return DataParallel(jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")),
                      jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


class MetricWriter:
  """TensorBoard event files plus a line per log on stdout."""

  def __init__(self, logdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(logdir=logdir)

  def scalars(self, step: int, values: dict[str, float]) -> None:
    for k, v in values.items():
      self._tb.add_scalar(k, v, step)
    logging.info("step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
    self._tb.flush()

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    self._tb.add_image(name, image, step, dataformats="HWC")
    self._tb.flush()

  def close(self):
    self._tb.close()


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first training setting that makes no sense."""
  for key in ("num_steps", "batch_size", "log_every", "sample_every", "checkpoint_every",
              "keep_checkpoints"):
    if not isinstance(config[key], int) or config[key] < 1:
      raise ValueError(f"config.{key} must be a positive integer, got {config[key]!r}")
  if not (np.isfinite(config.learning_rate) and config.learning_rate > 0):
    raise ValueError(f"config.learning_rate must be positive, got {config.learning_rate!r}")
  for key in ("beta1", "beta2", "ema_decay"):
    if key in config and not 0.0 <= config[key] < 1.0:
      raise ValueError(f"config.{key} must lie in [0, 1), got {config[key]!r}")
  if "model" in config:
    layers.compute_policy(config.model)  # conv_impl and compute_dtype


@contextlib.contextmanager
def workdir_lock(workdir: str):
  """Holds an exclusive lock on `workdir` (a file lock the OS drops when the process dies,
  so a killed run never leaves it stuck); raises ValueError if another process holds it."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, ".lock"), "a+") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "?"
      raise ValueError(f"another process (pid {holder}) is training in {workdir}; wait for it or "
                       "use another --workdir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def train(task: Task, config: ml_collections.ConfigDict, workdir: str, source=None) -> Any:
  """Trains `task` for `config.num_steps`, resuming from `workdir` if it has checkpoints.

  Writes to `workdir`: `config.json`, `checkpoints/`, TensorBoard events and
  `samples/step_XXXXXXX.png`. `source` overrides the config's dataset (a random-access
  sequence of uint8 images, as from `data.sources.make_source`). Bad settings, a workdir
  of another model, or a second process on the same workdir raise ValueError before
  anything is written; a damaged latest checkpoint is set aside and the previous one used.
  """
  validate_config(config)
  checkpoints.check_same_model(workdir, config)
  with workdir_lock(workdir):
    return _train_locked(task, config, workdir, source)


def _train_locked(task: Task, config: ml_collections.ConfigDict, workdir: str, source) -> Any:
  if source is None:
    source = sources.make_source(config.dataset, config.dataset.train_split,
                                 config.model.image_size)
  checkpoints.save_config(workdir, config)
  logging.info("%s: %d training images, batch %d", task.name, len(source), config.batch_size)
  manager = checkpoints.make_manager(workdir, config.checkpoint_every, config.keep_checkpoints)
  state, restored = checkpoints.restore_latest(manager, task.init_state(source), task.upgrade)
  if restored is not None:
    logging.info("resumed from step %d in %s", restored, workdir)
  start = int(state.step)
  batch_sharding = data_parallel_sharding(config.batch_size)
  state = jax.device_put(state, batch_sharding and batch_sharding.replicated)
  step_fn = jax.jit(_summing(task.train_step), donate_argnums=(0, 1))
  writer = MetricWriter(workdir)
  keys = StepKeys(config.seed)

  def to_device(step, images):
    return jax.device_put((task.make_batch(step, images), keys[step]),
                          batch_sharding and (batch_sharding.batch, batch_sharding.replicated))

  batches = sources.training_batches(source, config.batch_size, config.seed, start,
                                     config.num_steps, flip=config.random_flip,
                                     transform=to_device)
  last_time, last_step = time.perf_counter(), start
  zero_sums = sums = None
  with tqdm(total=config.num_steps, initial=start, desc=task.name, unit="step",
            disable=not config.get("progress_bar", True)) as bar:
    for step, (batch, rng) in batches:
      if sums is None:
        zero_sums = _zero_metrics(task.train_step, state, batch, rng)
        sums = jax.device_put(zero_sums, batch_sharding and batch_sharding.replicated)
      state, sums = step_fn(state, sums, batch, rng)
      done = step + 1
      bar.update(1)
      last = done == config.num_steps
      if done % config.log_every == 0 or last:
        count, sums_now = done - last_step, jax.device_get(sums)  # waits for the step
        now = time.perf_counter()
        metrics = {k: float(v) / count for k, v in sums_now.items()}
        sums = jax.device_put(zero_sums, batch_sharding and batch_sharding.replicated)
        metrics["steps_per_sec"] = count / max(now - last_time, 1e-9)
        last_time, last_step = now, done
        writer.scalars(done, metrics)
        bar.set_postfix({task.shown: f"{metrics[task.shown]:.4g}"})
        if not all(np.isfinite(v) for v in metrics.values()):
          raise FloatingPointError(f"non-finite training metrics in steps {done - count + 1}-"
                                   f"{done}: {metrics}")
      if done % config.sample_every == 0 or last:
        image = task.picture(state, source)
        images_lib.save_image(os.path.join(workdir, "samples", f"step_{done:07d}.png"), image)
        writer.image(done, "samples", image)
      if done % config.checkpoint_every == 0 or last:
        checkpoints.save(manager, done, state, force=last)
  manager.wait_until_finished()
  manager.close()
  writer.close()
  return state
