"""Dataset presets (folders, splits, crops) and the bundled models: defined once, used by
every config file, the Table 1 runner and the CLI. The search presets are configs/search.py's."""

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


def model_path(checkpoint: str) -> str:
  """A shipped model's file for its name ('celeba', 'cars'; see BUNDLED_MODELS), else
  `checkpoint` itself (a model file or a training workdir). The name wins over a folder of
  that name in the working directory: write './cars' for that one."""
  if checkpoint in BUNDLED_MODELS:
    return bundled_model_path(checkpoint)
  return checkpoint


def use_source(config: ml_collections.ConfigDict, folder: str = "",
               tfds_name: str = "") -> ml_collections.ConfigDict:
  """Points `config.dataset` at an image folder or a TFDS builder instead of the model's
  own dataset (both empty: unchanged); ValueError for both at once."""
  if folder and tfds_name:
    raise ValueError(f"give an image folder ({folder}) or a TFDS builder ({tfds_name}), not both")
  if folder:
    config.dataset.source, config.dataset.folder = "folder", folder
  if tfds_name:
    config.dataset.source, config.dataset.name = "tfds", tfds_name
  return config


def names(value) -> tuple[str, ...]:
  """A config's list field as a tuple of names: `--config.x=a,b` reaches a tuple field as
  ('a,b',), which is split here; empty entries are dropped."""
  items = (value,) if isinstance(value, str) else tuple(value)
  return tuple(n.strip() for item in items for n in str(item).split(",") if n.strip())


SPLIT_NAMES = ("train", "validation", "test")


def split_of(dataset: ml_collections.ConfigDict, split: str) -> str:
  """The split string of `split`: 'train', 'validation' or 'test' name the dataset's own
  (ValueError where it defines no validation split); anything else is a split string."""
  if split not in SPLIT_NAMES:
    return split
  value = dataset.get(f"{split}_split", "")
  if not value:
    raise ValueError(f"dataset {dataset.get('name') or dataset.get('folder')!r} defines no "
                     f"{split} split; give a split string (e.g. 'range:000001:000100')")
  return value


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
    raise ValueError(f"the search starts from a latent encoder (start 'encoder'), and {model_path} "
                     "has no shipped latent encoder: give an encoder file trained for it "
                     "(--encoder, --config.encoder; experiments/train_latent_encoder.py makes "
                     "one), or search from a random start (the paper preset)")
  return found
