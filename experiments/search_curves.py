"""Hole PSNR (and SSIM, LPIPS) against time for the search settings, per mask type.

  python experiments/search_curves.py --config=inpaint_jax/configs/curves.py \
      --config.checkpoint=cars --out=results/curves

Runs every family of `evaluation.curves.FAMILIES` (--config.families) on the first
--config.num_images images of the validation split with each mask type; writes
<out>/<name>.json (every point) and <out>/<name>.png (the curves), and prints one line per
point. A mask type already in the JSON with the same images, split and families is not
run again.
"""

import json
import os

from absl import app
from absl import flags
import ml_collections
import numpy as np

from inpaint_jax import commands
from inpaint_jax import configs
from inpaint_jax.configs import presets
from inpaint_jax.configs import search as search_config
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import curves
from inpaint_jax.evaluation import runner

_CONFIG = commands.define_config(
    os.path.join(os.path.dirname(configs.__file__), "curves.py"),
    "Curves config (configs/curves.py).")
_OUT = flags.DEFINE_string("out", "results/curves", "Output folder.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  config.families = presets.names(config.families)
  config.mask_types = presets.names(config.mask_types)
  masks_lib.check_types(config.mask_types, "--config.mask_types")
  unknown = sorted(set(config.families) - set(curves.FAMILIES))
  if unknown:
    raise commands.UserError(f"--config.families: unknown {unknown}; choose from "
                             f"{list(curves.FAMILIES)}")
  commands.check_paths({"--out": _OUT.value}, runner.run_inputs(config))
  commands.choose_backend()
  # The encoder families need the encoder: the given one, else the shipped model's own. Each
  # family's settings apply over the paper's.
  run = ml_collections.ConfigDict(config.to_dict())
  run.encoder = (config.encoder or presets.bundled_encoder_for(presets.model_path(config.checkpoint))
                 or "")
  run.search = search_config.defaults()
  model_config, params, source = runner.load_run(run)
  n = min(config.num_images or len(source), len(source))
  images = images_lib.to_float(sources.take(source, np.arange(n)))
  ids = images_lib.pixel_hashes(images)
  families = {k: curves.FAMILIES[k] for k in config.families}
  name = config.name or os.path.splitext(os.path.basename(os.path.normpath(config.checkpoint)))[0]
  path = os.path.join(_OUT.value, f"{name}.json")
  done = {}
  if os.path.isfile(path):
    with open(path) as f:
      done = json.load(f)
  key = {**curves.measured_with(n, families, params), "split": config.split}
  for mask_type in config.mask_types:
    old = done.get(mask_type)
    if old and {k: old.get(k) for k in key} == key:
      continue
    print(f"{name} / {mask_type}: {n} {config.split} images")
    m = masks_lib.make_masks(mask_type, model_config.model.image_size, config.seed, ids)
    points = curves.measure(images, m, params, model_config, families, config.seed, ids)
    done[mask_type] = {**key, "points": points}
    images_lib.atomic_write_bytes(path, json.dumps(done, indent=1).encode())
  picture = curves.plot({k: done[k]["points"] for k in masks_lib.MASK_TYPES if k in done},
                        f"{name}: first {n} {config.split} images, hole PSNR vs time per image")
  images_lib.atomic_write_bytes(os.path.join(_OUT.value, f"{name}.png"), picture)
  print(f"wrote {path} and {name}.png")


if __name__ == "__main__":
  commands.run_main(main)
