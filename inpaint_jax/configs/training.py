"""The block every training config shares (the DCGAN's, the Context Encoder's, the latent
encoder's): seed, dataset, Adam, flips, logging and checkpoints; each config adds its model
and its losses and sets what differs."""

import ml_collections


def dataset() -> ml_collections.ConfigDict:
  """Where images come from; `presets.apply_dataset` fills it for a named dataset."""
  d = ml_collections.ConfigDict()
  d.source = "folder"  # 'folder' or 'tfds'
  d.name = ""  # TFDS builder name
  d.folder = ""  # image folder
  d.data_dir = ml_collections.config_dict.placeholder(str)
  d.download = True
  d.train_split = "all"
  d.test_split = "all"
  d.validation_split = ""  # where settings are chosen ('' : none defined)
  d.crop = ml_collections.config_dict.placeholder(str)  # none / center / bbox
  d.crop_fraction = ml_collections.config_dict.placeholder(float)
  # Decode every image once: folders into memory; TFDS into a uint8 cache file under
  # cache_dir (default <data_dir>/inpaint_jax_cache) that later runs map from disk.
  d.in_memory = True
  d.cache_dir = ml_collections.config_dict.placeholder(str)
  return d


def get_config(learning_rate: float = 2e-4, beta1: float = 0.5, num_steps: int = 10_000,
               keep_checkpoints: int = 3) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dataset = dataset()
  config.batch_size = 64
  config.num_steps = num_steps
  config.learning_rate = learning_rate
  config.beta1 = beta1
  config.beta2 = 0.999
  config.random_flip = True
  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.keep_checkpoints = keep_checkpoints
  config.progress_bar = True
  return config
