"""Dataset presets (folders, splits, crops) and the bundled models: defined once, used by
every config file, the Table 1 runner and the CLI."""

from __future__ import annotations

import os

import ml_collections

import inpaint_jax

# Folder presets follow ../shared/data/README.md (train / test / validation by file name:
# choose settings on validation, report on test); TFDS presets the builders' own splits
# (their framing is `data.sources.TFDS_CROPS`; celeb_a has a validation split, the others
# none: their `validation_split` is left empty).
DATASETS = {
    "celeba": dict(source="folder", folder="../shared/data/celeba_align",
                   train_split="range:000001:008000", test_split="range:008001:008800",
                   validation_split="range:008801:009000",
                   crop="center", crop_fraction=108 / 178),
    "cars": dict(source="folder", folder="../shared/data/cars_bbox",
                 train_split="range:00001:06644", test_split="range:06645:07444",
                 validation_split="range:07445:07644", crop="none"),
    "celeb_a": dict(source="tfds", name="celeb_a", train_split="train", test_split="test",
                    validation_split="validation", in_memory=False),
    "svhn_cropped": dict(source="tfds", name="svhn_cropped", train_split="train",
                         test_split="test", in_memory=False),
    "cars196": dict(source="tfds", name="cars196", train_split="train", test_split="test",
                    in_memory=False),
}

BUNDLED_MODELS = {"celeba": "celeba_dcgan.msgpack", "cars": "cars_dcgan.msgpack"}
# Each bundled model's latent encoder (search start), trained for that G.
BUNDLED_ENCODERS = {"celeba": "celeba_encoder.msgpack", "cars": "cars_encoder.msgpack"}


def apply_dataset(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """Sets `config.dataset` to the preset `name` (see DATASETS) and returns the config."""
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
  for key, value in DATASETS[name].items():
    config.dataset[key] = value
  if not config.dataset.name:
    config.dataset.name = name
  return config


def bundled_model_path(dataset: str) -> str:
  """Path of the model file shipped for `dataset` ('celeba' or 'cars')."""
  if dataset not in BUNDLED_MODELS:
    raise ValueError(f"no bundled model for {dataset!r}; bundled: {sorted(BUNDLED_MODELS)}")
  return os.path.join(inpaint_jax.ASSETS, BUNDLED_MODELS[dataset])


# Named search settings (see `with_overrides`): the paper's exact method, and the fastest
# and the best settings measured beyond it (BUILD_NOTES.md, "Search beyond the paper").
SEARCH_PRESETS = {
    "paper": dict(start="random", iterations=1500, learning_rate=0.01, restarts=1,
                  halving_every=0, tune_steps=0),
    "fast": dict(start="encoder", iterations=40, learning_rate=0.02, restarts=1, halving_every=0,
                 tune_steps=0),
    "quality": dict(start="encoder", iterations=30, learning_rate=0.01, restarts=1,
                    halving_every=0, tune_steps=20),
}


def search_settings(preset: str | None, overrides: dict) -> dict:
  """The search overrides of `preset` (None: none) with the non-None `overrides` on top."""
  if preset is not None and preset not in SEARCH_PRESETS:
    raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(SEARCH_PRESETS)}")
  given = {k: v for k, v in overrides.items() if v is not None}
  return {**SEARCH_PRESETS.get(preset, {}), **given}


def bundled_encoder_for(model_path: str) -> str | None:
  """The bundled latent encoder of a bundled model file, or None for any other model."""
  for name, file in BUNDLED_MODELS.items():
    if os.path.abspath(model_path) == os.path.abspath(os.path.join(inpaint_jax.ASSETS, file)):
      path = os.path.join(inpaint_jax.ASSETS, BUNDLED_ENCODERS[name])
      return path if os.path.isfile(path) else None
  return None


def encoder_path(model_path: str, encoder: str | None, start: str) -> str | None:
  """The encoder file a run needs: `encoder` if given, else the bundled model's own when the
  search starts from the encoder; ValueError if it needs one and none is known."""
  if encoder or start != "encoder":
    return encoder or None
  found = bundled_encoder_for(model_path)
  if found is None:
    raise ValueError(f"--start=encoder needs --encoder (an encoder file trained for "
                     f"{model_path}; experiments/train_latent_encoder.py makes one)")
  return found


def with_overrides(config: ml_collections.ConfigDict, iterations: int | None = None,
                   restarts: int | None = None, folder: str | None = None,
                   tfds_name: str | None = None,
                   halving_every: int | None = None, start: str | None = None,
                   tune_steps: int | None = None, fills: int | None = None,
                   learning_rate: float | None = None, lr_schedule: str | None = None,
                   stop_every: int | None = None,
                   mirror: bool | None = None) -> ml_collections.ConfigDict:
  """A loaded config with the search length, restarts, restart halving, start, generator
  tuning, number of fills, step size and its schedule, per-image stopping period, mirror
  averaging or data source replaced (None keeps).

  Raises ValueError for fewer than one iteration, restart or fill, a negative halving,
  tuning or stopping period, a step size <= 0, or an unknown start or schedule."""
  for name, value in (("iterations", iterations), ("restarts", restarts), ("fills", fills)):
    if value is not None and value < 1:
      raise ValueError(f"{name} must be at least 1, got {value}")
  for name, value in (("halving_every", halving_every), ("tune_steps", tune_steps),
                      ("stop_every", stop_every)):
    if value is not None and value < 0:
      raise ValueError(f"{name} must be 0 (off) or positive, got {value}")
  if learning_rate is not None and not learning_rate > 0:
    raise ValueError(f"learning_rate must be positive, got {learning_rate}")
  if start not in (None, "random", "encoder"):
    raise ValueError(f"start must be 'random' or 'encoder', got {start!r}")
  if lr_schedule not in (None, "constant", "cosine"):
    raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
  for name, value in (("iterations", iterations), ("restarts", restarts),
                      ("halving_every", halving_every), ("tune_steps", tune_steps),
                      ("start", start), ("fills", fills), ("learning_rate", learning_rate),
                      ("lr_schedule", lr_schedule), ("stop_every", stop_every),
                      ("mirror", mirror)):
    if value is not None:
      config.search[name] = value
  if folder:
    config.dataset.source, config.dataset.folder = "folder", folder
  if tfds_name:
    config.dataset.source, config.dataset.name = "tfds", tfds_name
  return config
