"""Training checkpoints (orbax) and the run's config, kept side by side in a workdir; what
inference reads from a workdir or a model file is `inpaint_jax.model_files`.

Layout of a workdir:
  config.json         the ml_collections config of the run (written once, atomically)
  checkpoints/<step>/ orbax checkpoints of the full `TrainState`
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from absl import logging
import flax.serialization
import jax
import ml_collections
import orbax.checkpoint as ocp

from inpaint_jax import model_files
from inpaint_jax.data import images as images_lib
from inpaint_jax.models import layers

CONFIG_FILE = model_files.CONFIG_FILE

def save_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  images_lib.atomic_write_bytes(os.path.join(workdir, CONFIG_FILE),
                              config.to_json_best_effort(indent=2).encode())


def make_manager(workdir: str, save_every: int, keep: int) -> ocp.CheckpointManager:
  """A manager that saves every `save_every` steps (and when forced) and keeps the last `keep`."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=save_every,
                                         create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                               options=options)


def save(manager: ocp.CheckpointManager, step: int, state: Any, force: bool = False) -> bool:
  """Saves `state` (any flax-serialisable pytree) at `step`; True if a save happened.

  The state is fetched from the device only on steps that save."""
  if not (force or manager.should_save(step)):
    return False
  tree = flax.serialization.to_state_dict(jax.device_get(state))
  return manager.save(step, args=ocp.args.StandardSave(tree), force=force)


def restore_latest(manager: ocp.CheckpointManager, target: Any,
                   upgrade: Callable[[dict], dict] = lambda tree: tree) -> tuple[Any, int | None]:
  """(`target` filled from the newest readable checkpoint, its step), or (`target`, None)
  where the folder holds no checkpoint at all.

  `upgrade(tree)` brings a checkpoint of an older state layout to `target`'s (e.g. adds
  the EMA weights a run saved before they existed). Each step is restored by a manager of
  its own, so one that fails (an empty or foreign folder, missing or truncated files) cannot
  spoil the next. Steps newer than the one restored that could not be read are moved aside
  to `checkpoints/damaged-<step>` with a warning (never deleted); if no step can be read,
  nothing is moved and ValueError names the folder: a run never starts again from step 0
  over checkpoints it could not read.
  """
  directory = str(manager.directory)
  state, step, failed = model_files.restore_newest_readable(
      directory, sorted(manager.all_steps(), reverse=True), upgrade,
      lambda tree: flax.serialization.from_state_dict(target, tree))
  if step is not None:
    for bad, why in failed:
      aside = _free_name(os.path.join(directory, f"damaged-{bad}"))
      logging.warning("checkpoint %d in %s cannot be read (%s); moved to %s, resuming from "
                      "step %d", bad, directory, why, aside, step)
      os.replace(os.path.join(directory, str(bad)), aside)
    if failed:
      manager.reload()
    return state, step
  if failed:
    raise ValueError(f"no checkpoint in {directory} can be read (steps "
                     f"{', '.join(str(s) for s, _ in failed)}; step {failed[0][0]}: "
                     f"{failed[0][1]}); no checkpoint was moved. Move the damaged step folders out "
                     "of it, or give another --workdir to start afresh")
  return target, None


def _free_name(path: str) -> str:
  """`path`, or `path-2`, `path-3`, ... : the first that does not exist."""
  candidate, n = path, 1
  while os.path.exists(candidate):
    n += 1
    candidate = f"{path}-{n}"
  return candidate


def check_same_model(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises ValueError, before anything is written, if `workdir` holds a run whose model
  (architecture) or, for a Context Encoder, mask type differs from `config`'s."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    return
  with open(path) as f:
    saved = json.load(f)
  new = json.loads(config.to_json_best_effort())
  old_model = saved.get("model", {})
  diff = [f"model.{k} {old_model[k]!r} there, {v!r} now"
          for k, v in new["model"].items()
          if k in old_model and old_model[k] != v and k not in layers.POLICY_FIELDS]
  if saved.get("mask_type") != new.get("mask_type"):
    diff.append(f"mask_type {saved.get('mask_type')!r} there, {new.get('mask_type')!r} now")
  if diff:
    raise ValueError(f"{workdir} holds a run of another model ({'; '.join(diff)}); use another "
                     "--workdir, or delete that one to start over")


def latest_step(workdir: str) -> int | None:
  path = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(path):
    return None
  with ocp.CheckpointManager(os.path.abspath(path)) as manager:
    return manager.latest_step()

