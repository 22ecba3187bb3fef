"""Inpaints a few images of a split with every mask type; writes a picture grid and prints PSNR.

  python experiments/inpaint_examples.py --config=inpaint_jax/configs/examples.py:quality \
      --config.checkpoint=celeba --out=results/examples_celeba

Rows of the grid: original, masked input, G(ẑ), blended; one block per mask type. Each
mask type's cell (results.csv, summary.json, PNGs) is under --out/<mask type>/. Every
setting is a field of configs/examples.py, set with --config.<field>=<value>.
"""

import os

from absl import app
from absl import flags

from inpaint_jax import commands
from inpaint_jax import configs
from inpaint_jax.configs import presets
from inpaint_jax.data import masks
from inpaint_jax.evaluation import examples
from inpaint_jax.evaluation import runner

_CONFIG = commands.define_config(
    os.path.join(os.path.dirname(configs.__file__), "examples.py"),
    "Run config (configs/examples.py[:preset]).")
_OUT = flags.DEFINE_string("out", "results/examples", "Output folder.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  config.mask_types = presets.names(config.mask_types)
  masks.check_types(config.mask_types, "--config.mask_types")
  commands.check_paths({"--out": _OUT.value}, runner.run_inputs(config))
  commands.choose_backend()
  model_config, params, source = runner.load_run(config)
  method = runner.ours(params, model_config, config.seed)
  examples.run_examples(source, method, _OUT.value, config.mask_types, config.seed,
                        num_images=config.num_images or None,
                        picture_images=config.picture_images)


if __name__ == "__main__":
  commands.run_main(main)
