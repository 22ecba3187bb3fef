"""Paper-size DCGAN on TFDS `cars196`, each image cropped to its bounding box.

  python experiments/train_dcgan.py --config inpaint_jax/configs/cars.py --workdir runs/cars196

Needs `pip install -e '.[tfds]'` and the Stanford Cars files TFDS asks for. 8,144 training images.
"""

from inpaint_jax.configs import default
from inpaint_jax.configs import presets


def get_config():
  config = presets.apply_dataset(default.get_config(), "cars196")
  config.num_steps = 20_000
  config.checkpoint_every = 2000
  config.sample_every = 2000
  return config
