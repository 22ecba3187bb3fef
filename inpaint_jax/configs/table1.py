"""Table 1 of Yeh et al. reproduced (`experiments/reproduce_table1.py`): which datasets,
splits, methods, mask types and images per cell; each method is registered in
`evaluation/table1.py` (METHODS).

  python experiments/reproduce_table1.py --config=inpaint_jax/configs/table1.py \
      --config.ce_root=runs/table1/ce --workdir=runs/table1 --out=results/table1

With both shipped models, CE workdirs (experiments/train_context_encoder.py) and 100 test
images per cell: ~2.5 h on a 2-core CPU, nearly all of it the paper's 1,500-iteration
search (`ours`); the other columns take minutes. Lists take a comma-separated value, e.g.
--config.methods=ce,fast,telea --config.mask_types=center,half --config.datasets=cars;
--config.num_images=0 runs the whole test splits; --config.search.iterations=300 shortens
the paper column; --config.fid=true adds FID and KID per cell (the metrics extra).
Today's irregular masks (LaMa's, data/masks.py) make the second table:
--config.mask_types=thin,medium,thick,box --config.methods=ce,fast,telea,biharmonic
(CEs trained on those masks under ce_root, --config.mask_type=thin etc.).
"""

import ml_collections

from inpaint_jax.configs import search


def _dataset(checkpoint: str, folder: str = "", tfds_name: str = "") -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.checkpoint = checkpoint  # a shipped model's name, a model file or a workdir ('': not run)
  d.folder = folder  # image folder ('' and no tfds_name: the model's own dataset)
  d.tfds_name = tfds_name
  d.split = "test"  # 'test' / 'validation' of the dataset, or a split string
  return d


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.datasets = ("celeba", "cars")  # of the three below; svhn needs a model and TFDS
  config.celeba = _dataset("celeba", "../shared/data/celeba_align")
  config.cars = _dataset("cars", "../shared/data/cars_bbox")
  config.svhn = _dataset("", tfds_name="svhn_cropped")
  # Columns, in table order (evaluation/table1.py METHODS): ours is the paper's search
  # (`search` below), fast and sharp the presets beyond it (where the model has an encoder).
  config.methods = ("ce", "ours", "fast", "quality", "sharp", "tv", "nn", "telea", "biharmonic")
  config.mask_types = ("center", "pattern", "random", "half")
  config.num_images = 100  # the first N test images per cell (0: the whole split)
  config.search = search.get_config("paper")
  config.search.batch_size = 50
  config.ce_root = ""  # folder of <dataset>_<mask type> Context Encoder workdirs
  config.nearest_neighbour = True  # load the train splits for the NN column
  config.tv_iterations = 1000
  config.batch_size = 50  # images per batch of every method
  config.seed = 0  # of the masks and starting points, the same for every method
  # FID and KID of every cell's fills against the same images' originals (Inception-v3 of
  # the metrics extra: pip install -e '.[metrics]'; ~8 images/s on a 2-core CPU).
  config.fid = False
  config.figure_images = 6  # images per Fig. 8 grid
  config.ablation_images = 8  # images of the prior / blending ablations (0: none)
  return config
