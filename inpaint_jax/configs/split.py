"""Inpainting a whole split with one mask type (`experiments/inpaint_split.py`); the argument
after the colon is the search preset (`configs/search.py`: paper, fast, quality, sharp; default quality).

  python experiments/inpaint_split.py --config=inpaint_jax/configs/split.py:quality \
      --config.checkpoint=celeba --config.mask_type=center --out=results/celeba_center

With the shipped faces model on the 800 CelebA test images (../shared/data), centre mask,
`fast`: 92 s on the 2-core CPU VM, hole PSNR 20.68 ± 0.11 dB, LPIPS(hole) 0.051 (0.12,
2026-12-07); `paper` takes ~1.5 h there.
Any field is set with --config.<field>=<value>, e.g. --config.search.learning_rate=0.03,
--config.split=validation, --config.folder=photos/ --config.split=all.
"""

import ml_collections

from inpaint_jax.configs import search


def get_config(preset: str = search.DEFAULT_PRESET) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # A shipped model's name ('celeba', 'cars'), a model file or a training workdir (a folder
  # named like a shipped model: './cars').
  config.checkpoint = "celeba"
  config.step = ml_collections.config_dict.placeholder(int)  # a workdir's step (None: newest)
  # Latent encoder file ('': the shipped model's own, where the search starts from one).
  config.encoder = ""
  # Images: the model's own dataset, or an image folder / a TFDS builder instead.
  config.folder = ""
  config.tfds_name = ""
  # 'test' / 'validation' / 'train': that split of the dataset (configs/presets.py);
  # anything else is a split string ('all', 'range:008001:008100', TFDS 'test[:10%]').
  config.split = "test"
  config.num_images = 0  # the first N of the split (0: all)
  # data/masks.py MASK_TYPES: the paper's center, pattern, random, half; LaMa's thin,
  # medium, thick and box.
  config.mask_type = "center"
  config.batch_size = 64  # images per batch, all devices together
  config.seed = 0  # of the masks and of the search's starting points
  config.write_images = True  # the PNGs of every image, beside the scores
  config.fresh = False  # discard what --out holds (made with other settings) and start again
  # FID and KID of the fills against the same images' originals, into distribution.json
  # (the metrics extra: pip install -e '.[metrics]'; ~8 images/s on a 2-core CPU).
  config.fid = False
  config.search = search.get_config(preset)
  return config
