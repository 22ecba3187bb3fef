"""A few images of a split under every mask type, and their picture grid
(`experiments/inpaint_examples.py`); the argument is the search preset.

  python experiments/inpaint_examples.py --config=inpaint_jax/configs/examples.py:quality \
      --config.checkpoint=cars --out=results/examples_cars

8 images x 4 mask types with `quality` take ~25 s on a 2-core CPU (mostly compilation).
Every field of configs/split.py is here too, but `mask_type`: `mask_types` lists them.
"""

import ml_collections

from inpaint_jax.configs import search
from inpaint_jax.configs import split


def get_config(preset: str = search.DEFAULT_PRESET) -> ml_collections.ConfigDict:
  config = split.get_config(preset)
  del config.mask_type
  config.mask_types = ("center", "pattern", "random", "half")
  config.num_images = 8
  config.picture_images = 8  # how many of them the picture shows
  return config
