"""Hole PSNR (and SSIM, LPIPS) against time for the search settings, per mask type.

  python experiments/search_curves.py --dataset cars --folder ../shared/data/cars_bbox \
      --num_images 32 --out results/curves

Runs every family of `evaluation.curves.FAMILIES` (or --families) on the first
--num_images test images with each mask type; writes <out>/<dataset>.json (every point)
and <out>/<dataset>.png (the curves), and prints one line per point. A mask type already
in the JSON with the same images and families is not run again.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from inpaint_jax import commands
from inpaint_jax.configs import presets
from inpaint_jax.data import images as images_lib
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.data import sources
from inpaint_jax.evaluation import curves
from inpaint_jax.train import checkpoints

_DATASET = flags.DEFINE_enum("dataset", "celeba", sorted(presets.BUNDLED_MODELS), "Dataset.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "DCGAN (default: the bundled one).")
_ENCODER = flags.DEFINE_string("encoder", None, "Latent encoder (default: the bundled one).")
_FOLDER = flags.DEFINE_string("folder", None, "Image folder (default: the preset's).")
_NUM = flags.DEFINE_integer("num_images", 32, "First N test images.")
_MASKS = flags.DEFINE_list("mask_types", list(masks_lib.MASK_TYPES), "Mask types.")
_FAMILIES = flags.DEFINE_list("families", list(curves.FAMILIES), "Setting families to run.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of masks and starting points.")
_OUT = flags.DEFINE_string("out", "results/curves", "Output folder.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  commands.one_cpu_device_per_core()
  unknown = sorted(set(_FAMILIES.value) - set(curves.FAMILIES))
  if unknown:
    raise commands.UserError(f"unknown families {unknown}; choose from {list(curves.FAMILIES)}")
  model = _CHECKPOINT.value or presets.bundled_model_path(_DATASET.value)
  encoder = _ENCODER.value or presets.bundled_encoder_for(model)
  config, params = checkpoints.load_params(model, encoder, folder=_FOLDER.value)
  folder = config.dataset.folder if config.dataset.source == "folder" else None
  commands.check_paths({"--out": _OUT.value}, {"--checkpoint": _CHECKPOINT.value,
                                               "--encoder": _ENCODER.value, "--folder": folder})
  source = sources.make_source(config.dataset, config.dataset.test_split, config.model.image_size)
  n = min(_NUM.value, len(source))
  images = images_lib.to_float(sources.take(source, np.arange(n)))
  ids = images_lib.pixel_hashes(images)
  families = {k: curves.FAMILIES[k] for k in _FAMILIES.value}
  path = os.path.join(_OUT.value, f"{_DATASET.value}.json")
  done = {}
  if os.path.isfile(path):
    with open(path) as f:
      done = json.load(f)
  key = curves.measured_with(n, families, params)
  for mask_type in _MASKS.value:
    old = done.get(mask_type)
    if old and {k: old.get(k) for k in key} == key:
      continue
    print(f"{_DATASET.value} / {mask_type}: {n} images")
    m = masks_lib.make_masks(mask_type, config.model.image_size, _SEED.value, ids)
    points = curves.measure(images, m, params, config, families, _SEED.value, ids)
    done[mask_type] = {**key, "points": points}
    images_lib.atomic_write_bytes(path, json.dumps(done, indent=1).encode())
  picture = curves.plot({k: done[k]["points"] for k in masks_lib.MASK_TYPES if k in done},
                        f"{_DATASET.value}: first {n} test images, hole PSNR vs time per image")
  images_lib.atomic_write_bytes(os.path.join(_OUT.value, f"{_DATASET.value}.png"), picture)
  print(f"wrote {path} and {_DATASET.value}.png")


if __name__ == "__main__":
  commands.run_main(main)
