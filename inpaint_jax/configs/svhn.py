"""Paper-size DCGAN on TFDS `svhn_cropped` (32x32 digits resized to 64x64).

  python experiments/train_dcgan.py --config inpaint_jax/configs/svhn.py --workdir runs/svhn

Needs `pip install -e '.[tfds]'`; TFDS downloads SVHN (about 200 MB). 73,257 training images.
"""

from inpaint_jax.configs import default
from inpaint_jax.configs import presets


def get_config():
  config = presets.apply_dataset(default.get_config(), "svhn_cropped")
  config.num_steps = 30_000
  config.checkpoint_every = 2000
  config.sample_every = 2000
  return config
