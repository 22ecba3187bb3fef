"""The validation sweep that names the presets (`experiments/tune_presets.py`,
`evaluation/sweep.py`): every candidate search setting on the validation split of each
dataset with each mask type, then the presets read off it by the rules below.

  python experiments/tune_presets.py --config=inpaint_jax/configs/sweep.py \
      --out=results/sweep

~45 min on a 2-core CPU with the shipped models (100 validation images per cell, the
paper's 1,500-iteration search on the first 32; the paper's and the tuning candidates are
most of it). Writes <out>/validation.json (every per-image score, resumable: a finished
cell is not measured again), validation.md (the table), pareto.png and presets.json, and
says whether configs/search.py's presets are the rules' choice.
"""

import ml_collections

# name -> search fields over the paper's. "e<N>": the latent encoder's z then N iterations;
# "m": also the mirror image, averaged; "x": the mixed blend; "lr": the step size; "t<N>": N
# generator-tuning steps.
CANDIDATES = {
    "paper": dict(start="random", iterations=1500, learning_rate=0.01),
    "e10": dict(start="encoder", iterations=10, learning_rate=0.02),
    "e20": dict(start="encoder", iterations=20, learning_rate=0.02),
    "e40": dict(start="encoder", iterations=40, learning_rate=0.02),
    "e80": dict(start="encoder", iterations=80, learning_rate=0.02),
    "e40_lr0.01": dict(start="encoder", iterations=40, learning_rate=0.01),
    "e40_lr0.05": dict(start="encoder", iterations=40, learning_rate=0.05),
    "e20m": dict(start="encoder", iterations=20, learning_rate=0.02, mirror=True),
    "e40m": dict(start="encoder", iterations=40, learning_rate=0.02, mirror=True),
    "e80m": dict(start="encoder", iterations=80, learning_rate=0.02, mirror=True),
    # "x": the mixed blend (`core.blend.mixed_blend`, its window, low, high and thick settings
    # the search block's defaults, chosen on these validation images: BUILD_NOTES 0.14).
    "e20x": dict(start="encoder", iterations=20, learning_rate=0.02, blend_mix_window=5),
    "e20mx": dict(start="encoder", iterations=20, learning_rate=0.02, mirror=True,
                  blend_mix_window=5),
    "e40mx": dict(start="encoder", iterations=40, learning_rate=0.02, mirror=True,
                  blend_mix_window=5),
    # "a": latent averaging (`core.search.latent_average`: G's mean over ẑ and 8 copies
    # perturbed by N(0, σ²) noise, σ 0.2, "a3": 0.3; BUILD_NOTES 0.15).
    "e20mxa": dict(start="encoder", iterations=20, learning_rate=0.02, mirror=True,
                   blend_mix_window=5, latent_samples=8),
    "e20mxa3": dict(start="encoder", iterations=20, learning_rate=0.02, mirror=True,
                    blend_mix_window=5, latent_samples=8, latent_noise=0.3),
    "e30t20": dict(start="encoder", iterations=30, learning_rate=0.01, tune_steps=20),
    "e30t20m": dict(start="encoder", iterations=30, learning_rate=0.01, tune_steps=20,
                    mirror=True),
}
OPTIONAL = ("e40_lr0.01", "e80m", "e30t20m", "e40mx")  # not in the default sweep (below)


def _dataset(checkpoint: str, folder: str) -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.checkpoint = checkpoint  # a shipped model's name, a model file or a workdir
  d.folder = folder  # its image folder ('': the model's own dataset)
  return d


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.datasets = ("celeba", "cars")
  config.celeba = _dataset("celeba", "../shared/data/celeba_align")
  config.cars = _dataset("cars", "../shared/data/cars_bbox")
  config.split = "validation"  # never the test split: that is where the presets are reported
  config.num_images = 100  # the first N validation images per cell (0: all 200)
  config.paper_images = 32  # the paper's search (~7 s per image here) on the first N only
  config.mask_types = ("center", "pattern", "random", "half")
  # Of CANDIDATES above; the others there (e40_lr0.01, e80m, e30t20m: 0.1-2 s
  # per image more) are left out of the default run for its time.
  config.candidates = tuple(c for c in CANDIDATES if c not in OPTIONAL)
  config.batch_size = 64  # images per compiled call, as the time budget is stated
  config.seed = 0
  # The rules (evaluation/sweep.py): the default is the best named preset within budget_s
  # seconds per image; `quality` and `sharp` run within quality_factor x fast's time.
  config.budget_s = 0.25
  config.quality_factor = 20.0
  return config
