"""The latent search's settings: every field with its default, the named presets, and the one
place they are merged (`settings`). Every command that inpaints takes its search block from
here; `core.inpaint.check_settings` is the one function that validates it.

  python experiments/inpaint_split.py --config=inpaint_jax/configs/split.py:fast \
      --config.search.learning_rate=0.03 ...

Presets, read off the validation sweep by its rules (`experiments/tune_presets.py`,
`evaluation/sweep.py`, results/sweep/: 100 validation images per cell of both shipped
models and the paper's four masks; times at batch 64 on the 2-core CPU, compile excluded):
  paper    Yeh et al. exactly: random start, 1500 Adam iterations (2.5 s per image)
  fast     the fastest at or above `paper` on every cell: the latent encoder's z, 20
           iterations, the mixed blend below (0.04 s per image)
  quality  the best mean hole PSNR at or above `fast` on every cell: `fast`, the mirror
           image's fill averaged in, and latent averaging (`core.search.latent_average`:
           each fill G's mean over ẑ and 8 copies perturbed by N(0, 0.3²); 0.1 s per
           image); the default (DEFAULT_PRESET: the best named preset within 0.25 s)
  sharp    the lowest LPIPS over the hole at or above `paper` everywhere and below the
           faster presets' LPIPS on every cell: encoder start, 30 iterations, 20 steps of
           per-image generator tuning, no averaging (0.7 s per image; 0.6-1.0 dB below
           `quality` in PSNR)
The mixed blend (`core.blend.mixed_blend`, fast and quality): where the known pixels are
dense the blend's guidance leans to their biharmonic fill; on big holes it is Eq. 4's.
0.13's `quality` (encoder + 30 iterations + tuning) is `sharp` since 0.13; the name now
belongs to the setting its rule picks.
"""

from __future__ import annotations

from typing import Any, Mapping

import ml_collections

# Each preset's fields over the defaults below.
PRESETS = {
    "paper": dict(start="random", iterations=1500, learning_rate=0.01),
    "fast": dict(start="encoder", iterations=20, learning_rate=0.02, blend_mix_window=5),
    "quality": dict(start="encoder", iterations=20, learning_rate=0.02, mirror=True,
                    blend_mix_window=5, latent_samples=8, latent_noise=0.3),
    "sharp": dict(start="encoder", iterations=30, learning_rate=0.01, tune_steps=20),
}
DEFAULT_PRESET = "quality"  # of the CLI, the page and the split runner (the sweep's rule)
RENAMED: dict[str, str] = {}  # old name -> new, for the error message

# The short flags of the `inpaint-jax` CLI: each sets the search field of its name (its type
# is the field's). Everything else: the experiments' --config.search.<field>.
USER_FLAGS = {
    "iterations": "Search iterations (the paper: 1500).",
    "restarts": "Random restarts per image.",
    "learning_rate": "Adam's step size of the search.",
    "lr_schedule": "Adam's step size over the search: constant (the paper) or cosine (decays "
                   "to 0 at the last iteration).",
    "halving_every": "With several restarts: keep the better half every N iterations (0: off).",
    "start": "Where restart 0 starts: random (the paper) or the latent encoder's z.",
    "tune_steps": "Per-image generator tuning steps after the search (0: off).",
    "stop_every": "Per-image stopping: every N iterations an image whose loss fell by less "
                  "than 0.1% stops (0: off).",
    "mirror": "Also fill each image's mirror image and average the two fills: higher PSNR, "
              "slightly softer fills, twice the search.",
    "fills": "Write the best k distinct fills side by side (needs --restarts >= k).",
    "latent_samples": "Average each fill over G of K latent codes near the found one (0: "
                      "off): higher PSNR on wide holes, softer detail.",
    "compute_dtype": "What the networks multiply in: float32 or bfloat16 (parameters, Adam, "
                     "losses and the blend stay float32).",
}


def defaults() -> ml_collections.ConfigDict:
  """The search block with the paper's settings (Sec. 3.2-3.4); every field documented."""
  s = ml_collections.ConfigDict()
  s.iterations = 1500
  s.restarts = 1
  # Adam's step size is not in the paper: see BUILD_NOTES.md. It, the prior weight, the
  # tuning step size and feature weight and min_fill_difference are traced, not compiled in
  # (`core.search.TRACED`): a sweep over them compiles the search once.
  s.learning_rate = 0.01
  # Adam's step size over the search: 'constant' (the paper's setting) or 'cosine' (decays
  # to 0 at the last iteration).
  s.lr_schedule = "constant"
  s.beta1 = 0.9
  s.beta2 = 0.999
  s.prior_weight = 0.003  # lambda
  s.context_loss = "l1"  # Eq. 5; 'l2' for ablations
  s.prior_loss = "log1m"  # Eq. 6, log(1 - D); 'neglogd' for -log D
  s.weighting = "eq3"  # Eq. 3; 'uniform' for W = M
  s.window = 7
  s.curve_stride = 0  # record the loss every N iterations (0: off)
  # Successive halving: every N iterations keep the better half of the restarts (0: off).
  s.halving_every = 0
  # Per-image stopping: every N iterations an image whose best total loss fell by less than
  # the fraction stop_tolerance stops, and costs nothing after (0: off).
  s.stop_every = 0
  s.stop_tolerance = 1e-3
  # Where restart 0 starts: 'random' (the paper) or 'encoder' (E's z for the masked image,
  # Lahiri et al. 2020; needs a latent encoder); other restarts start at random.
  s.start = "random"
  # Per-image generator tuning after the z search (Pan et al. 2020), 0 steps: off.
  s.tune_steps = 0
  s.tune_learning_rate = 1e-4
  s.tune_feature_weight = 1.0  # D-feature term beside the context loss
  # Return the best k distinct restarts (blended), sorted by total loss; k <= restarts.
  s.fills = 1
  # Also fill each image's mirror image (left-right) and return the mean of the two fills
  # (per fill rank): an estimate closer to the mean of plausible fills, so higher PSNR.
  s.mirror = False
  s.min_fill_difference = 0.02  # mean |difference| over the hole, [-1, 1] units
  # Iterations per compiled call: -1 auto (10 unrolled on CPU, all in one scan elsewhere),
  # 0 all in one rolled lax.scan, N chunks of N unrolled steps.
  s.steps_per_call = -1
  s.blend = True
  s.blend_tol = 1e-6
  s.blend_maxiter = 2000
  # The mixed blend (beyond the paper; `core.blend.mixed_blend`): where the known pixels are
  # dense (random masks, thin strokes) the guidance leans to their biharmonic fill. Per pixel,
  # G(ẑ)'s share rises from 0 where at most blend_mix_low of the blend_mix_window-square
  # around it is missing to 1 where blend_mix_high is, and is 1 on the hole's parts that a
  # blend_mix_thick-square fits in (0: no such rule). Read off the mask itself, never its kind.
  # blend_mix_window 0: Eq. 4's blend.
  s.blend_mix_window = 0
  s.blend_mix_low = 0.6
  s.blend_mix_high = 1.0
  s.blend_mix_thick = 7
  # Latent averaging (beyond the paper; `core.search.latent_average`): each fill is G's mean
  # over ẑ and latent_samples copies clip(ẑ + latent_noise·ε, -1, 1), ε ~ N(0, I) from the
  # image's key: nearer the mean of plausible fills (higher PSNR on wide holes, softer).
  # 0: off. With tune_steps, each image's tuned G is the one averaged.
  s.latent_samples = 0
  s.latent_noise = 0.2
  s.batch_size = 64  # problems per compiled search call
  # What G, D and E multiply in during the search and tuning: 'float32' or 'bfloat16'
  # (the loaded model's model.compute_dtype; its file's own is not used). Adam, the losses,
  # the blend and every score stay float32 (BUILD_NOTES.md "Compute precision").
  s.compute_dtype = "float32"
  return s


def get_config(preset: str = "paper") -> ml_collections.ConfigDict:
  """The search block of `preset` (see PRESETS): the defaults with its fields on top."""
  return settings(preset)


def settings(preset: str | None = None, overrides: Mapping[str, Any] | None = None,
             base: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
  """The one place search settings are merged: `base` (default: `defaults()`), then the
  preset's fields, then `overrides` (fields left None keep). ValueError naming an unknown
  preset or field; the values are checked by `core.inpaint.check_settings`."""
  if preset is not None and preset not in PRESETS:
    renamed = f" ({preset!r} is now {RENAMED[preset]!r})" if preset in RENAMED else ""
    raise ValueError(f"unknown preset {preset!r}{renamed}: choose one of {sorted(PRESETS)}")
  s = ml_collections.ConfigDict(defaults() if base is None else base)
  given = {k: v for k, v in (overrides or {}).items() if v is not None}
  for name, value in {**PRESETS.get(preset, {}), **given}.items():
    if name not in s:
      raise ValueError(f"search has no setting {name!r}; its settings are {sorted(s)}")
    s[name] = type(s[name])(value) if isinstance(s[name], float) else value
  return s
