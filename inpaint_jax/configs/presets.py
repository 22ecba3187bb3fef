"""Dataset presets (folders, splits, crops) and the bundled models: defined once, used by
every config file, the Table 1 runner and the CLI."""

from __future__ import annotations

import os

import ml_collections

import inpaint_jax

# Folder presets follow ../shared/data/README.md; TFDS presets the builders' own splits
# (their framing is `data.sources.TFDS_CROPS`).
DATASETS = {
    "celeba": dict(source="folder", folder="../shared/data/celeba_align",
                   train_split="range:000001:008000", test_split="range:008001:009000",
                   crop="center", crop_fraction=108 / 178),
    "cars": dict(source="folder", folder="../shared/data/cars_bbox",
                 train_split="range:00001:06644", test_split="range:06645:07644", crop="none"),
    "celeb_a": dict(source="tfds", name="celeb_a", train_split="train", test_split="test",
                    in_memory=False),
    "svhn_cropped": dict(source="tfds", name="svhn_cropped", train_split="train",
                         test_split="test", in_memory=False),
    "cars196": dict(source="tfds", name="cars196", train_split="train", test_split="test",
                    in_memory=False),
}

BUNDLED_MODELS = {"celeba": "celeba_dcgan.msgpack", "cars": "cars_dcgan.msgpack"}


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


def with_overrides(config: ml_collections.ConfigDict, iterations: int | None = None,
                   restarts: int | None = None, folder: str | None = None,
                   tfds_name: str | None = None,
                   halving_every: int | None = None) -> ml_collections.ConfigDict:
  """A loaded config with the search length, restarts, restart halving or data source
  replaced (None keeps).

  Raises ValueError for fewer than one iteration or restart, or a negative halving period."""
  for name, value in (("iterations", iterations), ("restarts", restarts)):
    if value is not None and value < 1:
      raise ValueError(f"{name} must be at least 1, got {value}")
  if halving_every is not None:
    if halving_every < 0:
      raise ValueError(f"halving_every must be 0 (off) or positive, got {halving_every}")
    config.search.halving_every = halving_every
  if iterations:
    config.search.iterations = iterations
  if restarts:
    config.search.restarts = restarts
  if folder:
    config.dataset.source, config.dataset.folder = "folder", folder
  if tfds_name:
    config.dataset.source, config.dataset.name = "tfds", tfds_name
  return config
