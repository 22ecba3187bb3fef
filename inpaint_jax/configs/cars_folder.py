"""Paper-size DCGAN on a folder of Stanford Cars images already cropped to their boxes.

  python experiments/train_dcgan.py --config inpaint_jax/configs/cars_folder.py \
      --workdir runs/cars --config.dataset.folder=../shared/data/cars_bbox

Train split: files 00001-06644; test split: 06645-07444; validation: 07445-07644. Box crops are resized to
64x64 without keeping the aspect ratio, as in Yeh et al. Sec. 4.1.
"""

from inpaint_jax.configs import default
from inpaint_jax.configs import presets


def get_config():
  config = presets.apply_dataset(default.get_config(), "cars")
  return config
