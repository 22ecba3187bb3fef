"""A tiny 32x32 DCGAN for tests and smoke runs (seconds per hundred steps on a CPU).

  python experiments/train_dcgan.py --config inpaint_jax/configs/tiny.py --workdir /tmp/tiny \
      --config.dataset.folder=PATH_TO_IMAGES
"""

from inpaint_jax.configs import default


def get_config():
  config = default.get_config()
  config.model.z_dim = 16
  config.model.ngf = 8
  config.model.ndf = 8
  config.model.image_size = 32
  config.dataset.source = "folder"
  config.dataset.crop = "none"
  config.batch_size = 8
  config.num_steps = 20
  config.log_every = 5
  config.sample_every = 10
  config.checkpoint_every = 5
  config.keep_checkpoints = 2
  return config
