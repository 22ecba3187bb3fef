"""Shared defaults: the paper-size DCGAN (ngf = ndf = 64, 64x64) with Radford's optimiser."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.model = ml_collections.ConfigDict()
  config.model.z_dim = 100
  config.model.ngf = 64
  config.model.ndf = 64
  config.model.kernel_size = 4
  config.model.image_size = 64
  # 'subpixel': stride-2 (transposed) convs as stride-1 convs (fast); 'xla': flax's
  # nn.ConvTranspose / nn.Conv. Same parameters, same numbers (tests/test_models.py).
  config.model.conv_impl = "subpixel"

  config.dataset = ml_collections.ConfigDict()
  config.dataset.source = "folder"  # 'folder' or 'tfds'
  config.dataset.name = ""  # TFDS builder name
  config.dataset.folder = ""  # image folder
  config.dataset.data_dir = ml_collections.config_dict.placeholder(str)
  config.dataset.download = True
  config.dataset.train_split = "all"
  config.dataset.test_split = "all"
  config.dataset.validation_split = ""  # where settings are chosen ('' : none defined)
  config.dataset.crop = ml_collections.config_dict.placeholder(str)  # none / center / bbox
  config.dataset.crop_fraction = ml_collections.config_dict.placeholder(float)
  # Decode every image once: folders into memory; TFDS into a uint8 cache file under
  # cache_dir (default <data_dir>/inpaint_jax_cache) that later runs map from disk.
  config.dataset.in_memory = True
  config.dataset.cache_dir = ml_collections.config_dict.placeholder(str)

  config.batch_size = 64
  config.num_steps = 10_000
  config.learning_rate = 2e-4
  config.beta1 = 0.5
  config.beta2 = 0.999
  config.random_flip = True
  # Exponential moving average of G's weights (0: the average is the raw G); samples,
  # exported models and the search use it.
  config.ema_decay = 0.999
  # DiffAugment (Zhao et al. 2020) of what D sees: '' (off, the paper) or a comma-separated
  # subset of 'color,translation,cutout' (`train.augment`); for small datasets.
  config.diff_augment = ""
  # Start from the G and D of a model file or workdir (fine-tuning) instead of random weights.
  config.init_from = ""

  # The latent search (Sec. 3.2-3.4). Adam's step size is not in the paper: see BUILD_NOTES.md.
  config.search = ml_collections.ConfigDict()
  config.search.iterations = 1500
  config.search.restarts = 1
  config.search.learning_rate = 0.01
  # Adam's step size over the search: 'constant' (the paper's setting) or 'cosine' (decays
  # to 0 at the last iteration).
  config.search.lr_schedule = "constant"
  config.search.beta1 = 0.9
  config.search.beta2 = 0.999
  config.search.prior_weight = 0.003  # lambda
  config.search.context_loss = "l1"  # Eq. 5; 'l2' for ablations
  config.search.prior_loss = "log1m"  # Eq. 6, log(1 - D); 'neglogd' for -log D
  config.search.weighting = "eq3"  # Eq. 3; 'uniform' for W = M
  config.search.window = 7
  config.search.curve_stride = 0  # record the loss every N iterations (0: off)
  # Successive halving: every N iterations keep the better half of the restarts (0: off).
  config.search.halving_every = 0
  # Per-image stopping: every N iterations an image whose best total loss fell by less than
  # the fraction stop_tolerance stops, and costs nothing after (0: off).
  config.search.stop_every = 0
  config.search.stop_tolerance = 1e-3
  # Where restart 0 starts: 'random' (the paper) or 'encoder' (E's z for the masked image,
  # Lahiri et al. 2020; needs an encoder, `config.encoder`); other restarts start at random.
  config.search.start = "random"
  # Per-image generator tuning after the z search (Pan et al. 2020), 0 steps: off.
  config.search.tune_steps = 0
  config.search.tune_learning_rate = 1e-4
  config.search.tune_feature_weight = 1.0  # D-feature term beside the context loss
  # Return the best k distinct restarts (blended), sorted by total loss; k <= restarts.
  config.search.fills = 1
  # Also fill each image's mirror image (left-right) and return the mean of the two fills
  # (per fill rank): an estimate closer to the mean of plausible fills, so higher PSNR.
  config.search.mirror = False
  config.search.min_fill_difference = 0.02  # mean |difference| over the hole, [-1, 1] units
  # Iterations per compiled call: -1 auto (10 unrolled on CPU, all in one scan elsewhere),
  # 0 all in one rolled lax.scan, N chunks of N unrolled steps.
  config.search.steps_per_call = -1
  config.search.blend = True
  config.search.blend_tol = 1e-6
  config.search.blend_maxiter = 2000
  config.search.batch_size = 64  # images per compiled search call

  # The latent encoder's architecture (set from its file when one is loaded).
  config.encoder = ml_collections.ConfigDict()
  config.encoder.nf = 32

  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.keep_checkpoints = 3
  config.progress_bar = True
  return config
