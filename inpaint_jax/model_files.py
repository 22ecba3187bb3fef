"""Model files and what inference loads: the exported DCGAN and latent-encoder files, the
newest readable step of a training workdir, fingerprints, and `load_params`, which every
inpainting command calls. Training (orbax managers, resuming) is `train.checkpoints`'.

A training workdir holds config.json (the run's ml_collections config) and
checkpoints/<step>/ (orbax); a model file is one msgpack blob: the config's JSON, G and D
(float16); an encoder file: kind 'latent_encoder', its `model` block, E and the
`generator_fingerprint` of the G it was trained for.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable

from absl import logging
import flax.serialization
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from inpaint_jax.configs import context_encoder as ce_config
from inpaint_jax.configs import default as default_config
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.core import inpaint
from inpaint_jax.data import images as images_lib
from inpaint_jax.models import dcgan
from inpaint_jax.models import latent_encoder

CONFIG_FILE = "config.json"


def merge_with_defaults(saved: dict,
                        defaults: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
  """`defaults` (the DCGAN's if None) overwritten by `saved`, so runs saved before a field
  existed still load."""
  config = default_config.get_config() if defaults is None else defaults

  def update(target, values):
    for key, value in values.items():
      if isinstance(value, dict) and key in target and isinstance(target[key], ml_collections.ConfigDict):
        update(target[key], value)
      else:
        target[key] = value

  update(config, saved)
  return config


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {CONFIG_FILE} in {workdir}: not a training workdir")
  with open(path) as f:
    return merge_with_defaults(json.load(f))


def restore_newest_readable(directory: str, steps: list[int],
                             *convert: Callable[[Any], Any]) -> tuple[Any, int | None, list]:
  """(the newest of `steps` that restores, through `convert` in turn; its step; the
  (step, 'Error: first line') of each newer one that failed), or (None, None, failures).
  Each step gets a manager of its own: one that fails cannot spoil the next."""
  failed = []
  for step in steps:
    try:
      with ocp.CheckpointManager(directory) as reader:
        value = reader.restore(step, args=ocp.args.StandardRestore())
      for fn in convert:
        value = fn(value)
    except Exception as e:  # pylint: disable=broad-except
      failed.append((step, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"))
      continue
    return value, step, failed
  return None, None, failed


def restore_tree(workdir: str, step: int | None = None) -> dict:
  """The saved state of a training workdir as a nested dict: `step`'s, or the newest
  readable one's (a newer step that cannot be read is skipped with a warning naming it).
  Raises FileNotFoundError for no checkpoint, ValueError for a step the workdir does not
  hold or none that can be read."""
  ckpt_dir = os.path.abspath(os.path.join(workdir, "checkpoints"))
  if not os.path.isdir(ckpt_dir):
    raise FileNotFoundError(f"no checkpoints/ in training workdir {workdir}")
  with ocp.CheckpointManager(ckpt_dir) as manager:
    steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    raise FileNotFoundError(f"no checkpoint saved yet in {ckpt_dir}")
  if step is not None and step not in steps:
    raise ValueError(f"{workdir} holds no checkpoint of step {step}; its steps are "
                     f"{', '.join(map(str, sorted(steps)))}")
  tree, found, failed = restore_newest_readable(ckpt_dir, [step] if step is not None else steps)
  failures = [f"step {s}: {why}" for s, why in failed]
  if found is None:
    raise ValueError(f"no checkpoint in {ckpt_dir} can be read ({failures[0]}" +
                     (f", and {len(failures) - 1} more" if len(failures) > 1 else "") + ")")
  if failures:
    logging.warning("%s cannot be read (%s); using step %d", ckpt_dir, "; ".join(failures),
                    found)
  return tree


def variables(tree: dict, name: str) -> dict:
  """`{'params', 'batch_stats'}` of network `name` ('g', 'g_ema', 'd', 'e') in a restored
  state tree (`restore_tree`)."""
  return {"params": tree[name]["params"], "batch_stats": tree[name]["batch_stats"]}


def load_model(path: str, step: int | None = None, ema: bool = True):
  """(config, g_vars, d_vars) from a training workdir (latest or given step) or an exported file.

  config.model: the architecture saved with it, conv_impl 'auto' and compute_dtype
  'float32' (a model trained in either precision runs in either). g_vars, d_vars:
  `{'params', 'batch_stats'}` as float32 numpy trees. From a workdir, G is
  the moving average of its weights where the run kept one (`ema=False`: the raw G).
  """
  if os.path.isdir(path):
    _refuse_other_kinds(path)
    config = load_config(path)
    tree = restore_tree(path, step)
    if not {"g", "d"} <= set(tree):
      raise ValueError(f"{path} holds no DCGAN (its checkpoints have {', '.join(sorted(tree))})")
    g_vars = variables(tree, "g_ema" if ema and "g_ema" in tree else "g")
    d_vars = variables(tree, "d")
  elif os.path.isfile(path):
    with open(path, "rb") as f:
      try:
        blob = flax.serialization.msgpack_restore(f.read())
      except Exception as e:  # pylint: disable=broad-except
        raise ValueError(f"{path} is not an inpaint-jax model file: {e}") from e
      if isinstance(blob, dict) and blob.get("kind") == "latent_encoder":
        raise ValueError(f"{path} is a latent encoder file, not a DCGAN: give it as --encoder "
                         "(and the model it was trained for as --checkpoint)")
      try:
        config = merge_with_defaults(json.loads(blob["config"]))
        g_vars, d_vars = blob["generator"], blob["discriminator"]
      except Exception as e:  # pylint: disable=broad-except
        raise ValueError(f"{path} is not an inpaint-jax model file: {e}") from e
  else:
    raise FileNotFoundError(f"checkpoint does not exist: {path}")
  as_f32 = lambda t: jax.tree.map(lambda a: np.asarray(a, np.float32), t)
  g_vars, d_vars = as_f32(g_vars), as_f32(d_vars)
  # How the run computes is this process's, never the file's: the machine's convolution
  # form, float32 unless the run asks otherwise (`search.compute_dtype`).
  config.model.conv_impl, config.model.compute_dtype = "auto", "float32"
  check_architecture(config, g_vars, d_vars, path)
  return config, g_vars, d_vars


def _refuse_other_kinds(workdir: str) -> None:
  """ValueError where `workdir` is a training run of another network than a DCGAN."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    return
  try:
    with open(path) as f:
      saved = json.load(f)
  except ValueError as e:
    raise ValueError(f"{path} is damaged ({e}); it is not a readable training workdir") from e
  if "dcgan" in saved:
    raise ValueError(f"{workdir} is a latent-encoder workdir, not a DCGAN: export it "
                     "(experiments/export_model.py) and give the file as --encoder")
  if "fill_colour_images" in saved:
    raise ValueError(f"{workdir} is a Context Encoder workdir, not a DCGAN: Table 1 takes its "
                     "folder through --ce_root")


def check_architecture(config: ml_collections.ConfigDict, g_vars: Any, d_vars: Any,
                       path: str = "checkpoint") -> None:
  """Raises ValueError if the variables are not those of the DCGAN that `config.model` describes."""
  expected_g, expected_d = jax.eval_shape(
      lambda: dcgan.init_variables(config.model, jax.random.PRNGKey(0)))
  for name, got, want in (("generator", g_vars, expected_g), ("discriminator", d_vars, expected_d)):
    got_shapes = {jax.tree_util.keystr(k): tuple(np.shape(v))
                  for k, v in jax.tree_util.tree_leaves_with_path(got)}
    want_shapes = {jax.tree_util.keystr(k): tuple(v.shape)
                   for k, v in jax.tree_util.tree_leaves_with_path(want)}
    if got_shapes != want_shapes:
      diff = sorted(set(got_shapes.items()) ^ set(want_shapes.items()))[:1]
      key = diff[0][0] if diff else "?"
      raise ValueError(
          f"{path}: the {name} does not match the architecture of its config "
          f"(ngf={config.model.ngf}, ndf={config.model.ndf}, kernel={config.model.kernel_size}, "
          f"size={config.model.image_size}): {key} is {got_shapes.get(key, 'missing')}, "
          f"expected {want_shapes.get(key, 'absent')}")


def export_model(path: str, config: ml_collections.ConfigDict, g_vars: Any, d_vars: Any,
                 dtype=np.float16) -> None:
  """Writes G and D (cast to `dtype`) and the config into one msgpack file, atomically."""
  cast = lambda t: jax.tree.map(lambda a: np.asarray(a, dtype), jax.device_get(t))
  blob = {"config": config.to_json_best_effort(), "generator": cast(g_vars),
          "discriminator": cast(d_vars)}
  images_lib.atomic_write_bytes(path, flax.serialization.msgpack_serialize(blob))


def fingerprint(tree: Any) -> str:
  """sha256 of a pytree's arrays (the model a result was made with), first 16 hex digits."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(tree)):
    digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
  return digest.hexdigest()[:16]


def generator_fingerprint(g_vars: Any) -> str:
  """The G an encoder belongs to, as it survives export: `fingerprint` of the weights rounded
  to float16 (the model files' precision), so a workdir's float32 G and its exported file
  identify as one generator."""
  return fingerprint(jax.tree.map(lambda a: np.asarray(a, np.float16), jax.device_get(g_vars)))


def dcgan_fingerprint(params: dict) -> str:
  """`fingerprint` of a loaded model's G and D (`load_params` output; not its encoder)."""
  return fingerprint({k: params[k] for k in ("generator", "discriminator")})


def export_encoder(path: str, encoder_config: ml_collections.ConfigDict, e_vars: Any,
                   g_vars: Any, dtype=np.float16) -> None:
  """Writes a latent encoder E (cast to `dtype`), its `model` block and the fingerprint of
  the G it maps into (`generator_fingerprint`) into one msgpack file, atomically."""
  cast = lambda t: jax.tree.map(lambda a: np.asarray(a, dtype), jax.device_get(t))
  blob = {"kind": "latent_encoder", "model": encoder_config.to_json_best_effort(),
          "generator_sha256": generator_fingerprint(g_vars), "encoder": cast(e_vars)}
  images_lib.atomic_write_bytes(path, flax.serialization.msgpack_serialize(blob))


def load_encoder(path: str, model_config: ml_collections.ConfigDict, g_vars: Any,
                 same_generator: bool = True):
  """(encoder `model` block, e_vars) from an encoder file, checked against the DCGAN it is
  used with (`model_config`, `g_vars`): ValueError if E was trained for another G (unless
  `same_generator` is False: a warm start for a fine-tuned G) or does not fit this model's
  z and image size."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"encoder file does not exist: {path}")
  with open(path, "rb") as f:
    try:
      blob = flax.serialization.msgpack_restore(f.read())
      assert blob.get("kind") == "latent_encoder", "no latent encoder in it"
      config = ml_collections.ConfigDict(json.loads(blob["model"]))
      e_vars = jax.tree.map(lambda a: np.asarray(a, np.float32), blob["encoder"])
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(f"{path} is not an inpaint-jax encoder file: {e}") from e
  # Files before 0.11 hold `fingerprint` of the float32 G they were trained with.
  if same_generator and blob["generator_sha256"] not in (generator_fingerprint(g_vars),
                                                         fingerprint(g_vars)):
    raise ValueError(f"{path} was trained for another generator (sha256 {blob['generator_sha256']},"
                     f" this one {generator_fingerprint(g_vars)}); train an encoder for this "
                     "model (experiments/train_latent_encoder.py)")
  want = jax.eval_shape(lambda: latent_encoder.init_variables(config, model_config,
                                                              jax.random.PRNGKey(0)))
  if jax.tree.map(np.shape, e_vars) != jax.tree.map(lambda a: a.shape, want):
    raise ValueError(f"{path}: the encoder does not fit this model (z_dim {model_config.z_dim}, "
                     f"size {model_config.image_size})")
  return config, e_vars


def load_params(path: str, search: ml_collections.ConfigDict | None = None,
                encoder: str | None = None, step: int | None = None):
  """(config, params) for `core.inpaint.inpaint`, what every inpainting command loads.

  config: the model's, with `search` as its search block (the run's settings,
  `configs.search.settings`; None: the paper's defaults); the search block a model file
  was saved with is not used. params: {'generator', 'discriminator'} of the DCGAN at `path`
  (workdir or model file) and, where the search starts from the encoder or `encoder` (a
  file) is given, 'encoder' (default: a bundled model's own), checked to belong to that G.
  Raises ValueError / FileNotFoundError naming the problem (`check_settings`' included)."""
  config, g_vars, d_vars = load_model(path, step)
  params = {"generator": g_vars, "discriminator": d_vars}
  config.search = ml_collections.ConfigDict(search_config.defaults() if search is None else search)
  encoder = presets.encoder_path(path, encoder, config.search.start)
  if encoder:
    config.encoder, params["encoder"] = load_encoder(encoder, config.model, g_vars)
  inpaint.check_settings(params, config)
  return config, params


def load_context_encoder(workdir: str, step: int | None = None):
  """(config, variables {'params', 'batch_stats'}, fill_colour [3]) of a Context Encoder
  training workdir (`train.context_encoder`)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {CONFIG_FILE} in {workdir}: not a CE training workdir")
  with open(path) as f:
    saved = json.load(f)
  if "mask_type" not in saved or "nf" not in saved.get("model", {}):
    raise ValueError(f"{workdir} is not a Context Encoder workdir (no mask_type / model.nf)")
  config = merge_with_defaults(saved, ce_config.get_config())
  tree = restore_tree(workdir, step)
  e_vars = jax.tree.map(np.asarray, variables(tree, "e"))
  return config, e_vars, np.asarray(tree["fill_colour"], np.float32)
