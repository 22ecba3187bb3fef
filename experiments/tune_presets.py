"""The validation sweep that names the presets: every candidate setting on every validation
cell, then the presets by the rules of evaluation/sweep.py.

  python experiments/tune_presets.py --config=inpaint_jax/configs/sweep.py --out=results/sweep

Writes <out>/validation.json (per-image scores; a cell measured with the same images,
models and settings is not measured again), validation.md, pareto.png and presets.json,
and prints whether configs/search.py's presets are the rules' choice.
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
from inpaint_jax.evaluation import runner
from inpaint_jax.evaluation import sweep
from inpaint_jax.evaluation import table1

_CONFIG = commands.define_config(
    os.path.join(os.path.dirname(configs.__file__), "sweep.py"), "Sweep config (configs/sweep.py).")
_OUT = flags.DEFINE_string("out", "results/sweep", "Output folder.")


def _loader(config, dataset: str, mask_type: str, cache: dict):
  def load():
    if dataset not in cache:
      entry = config[dataset]
      run = ml_collections.ConfigDict(dict(
          checkpoint=entry.checkpoint, step=None, folder=entry.folder, tfds_name="",
          split=config.split, search=search_config.defaults().to_dict(),
          encoder=presets.bundled_encoder_for(presets.model_path(entry.checkpoint)) or ""))
      model_config, params, source = runner.load_run(run)
      n = min(config.num_images or len(source), len(source))
      pixels = sources.take(source, np.arange(n))
      cache[dataset] = (images_lib.to_float(pixels), images_lib.pixel_hashes(pixels), params,
                        model_config)
    images, ids, params, model_config = cache[dataset]
    m = masks_lib.make_masks(mask_type, model_config.model.image_size, config.seed, ids)
    return images, m, ids, params, model_config
  return load


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  config.datasets, config.mask_types = presets.names(config.datasets), presets.names(config.mask_types)
  config.candidates = presets.names(config.candidates)
  masks_lib.check_types(config.mask_types, "--config.mask_types")
  unknown = sorted(set(config.candidates) - set(sweep.CANDIDATES))
  if unknown or "paper" not in config.candidates:
    raise commands.UserError(f"--config.candidates: unknown {unknown} or no 'paper' (the "
                             f"reference); choose from {list(sweep.CANDIDATES)}")
  inputs = {}
  for d in config.datasets:
    if d not in config:
      raise commands.UserError(f"--config.datasets: no block for {d!r} in the config")
    inputs.update({f"--config.{d}.checkpoint": presets.model_path(config[d].checkpoint),
                   f"--config.{d}.folder": config[d].folder})
  commands.check_paths({"--out": _OUT.value}, inputs)
  commands.choose_backend()
  os.makedirs(_OUT.value, exist_ok=True)
  path = os.path.join(_OUT.value, f"{config.split}.json")
  done = {}
  if os.path.isfile(path):
    with open(path) as f:
      done = json.load(f)
  cache = {}
  cells = {f"{d}/{m}": _loader(config, d, m, cache) for d in config.datasets
           for m in config.mask_types}
  save = lambda d: images_lib.atomic_write_bytes(path, sweep.dumps(d))
  done = sweep.run(cells, config.candidates, config, done, save)
  results = sweep.results_of({c: done[c] for c in cells}, config.candidates)
  chosen = sweep.choose(results, config.quality_factor)
  default = sweep.default_preset(results, chosen, config.budget_s)
  problems = sweep.check_front(results, chosen)
  n = min(e["key"]["images"] for e in (done[c] for c in cells))
  title = (f"{config.split} split, {len(cells)} cells ({', '.join(config.datasets)} x "
           f"{len(config.mask_types)} masks), first {n} images each ({config.paper_images} for "
           f"paper)")
  images_lib.atomic_write_bytes(os.path.join(_OUT.value, "pareto.png"),
                                sweep.plot(results, chosen, title))
  settings = {k: sweep.CANDIDATES[v] if v else None for k, v in chosen.items()}
  images_lib.atomic_write_bytes(os.path.join(_OUT.value, "presets.json"), json.dumps(
      {"chosen": chosen, "default": default, "settings": settings,
       "seconds_per_image": {k: sweep.times(results)[v] for k, v in chosen.items() if v},
       "rules": {"budget_s": config.budget_s, "quality_factor": config.quality_factor},
       "front_problems": problems}, indent=2).encode())
  md = (f"# Validation sweep\n\n{title}.\nHole PSNR ± its standard error / LPIPS over the "
        f"hole per cell; seconds per image at batch {config.batch_size}, compile excluded "
        f"({table1.hardware()}). Presets by the rules of evaluation/sweep.py; the default "
        f"(best within {config.budget_s} s per image): {default}.\n\n"
        + sweep.table(results, chosen) + "\n")
  images_lib.atomic_write_bytes(os.path.join(_OUT.value, f"{config.split}.md"), md.encode())
  for name, cand in chosen.items():
    shipped = search_config.PRESETS.get(name)
    verdict = ("matches configs/search.py" if cand and shipped == sweep.CANDIDATES[cand]
               else f"configs/search.py has {shipped}")
    print(f"{name}: {cand} {sweep.CANDIDATES.get(cand)}  ({verdict})")
  print(f"default: {default} (configs/search.py DEFAULT_PRESET: {search_config.DEFAULT_PRESET})")
  for p in problems:
    print(f"front: {p}")
  print(f"wrote {path}, {config.split}.md, pareto.png and presets.json in {_OUT.value}")


if __name__ == "__main__":
  commands.run_main(main)
