"""Reproduces Table 1 of Yeh et al.: CE, ours, TV, NN and Telea on every dataset x mask type.

  python experiments/reproduce_table1.py --config=inpaint_jax/configs/table1.py \
      --config.ce_root=runs/table1/ce --workdir=runs/table1 --out=results/table1

What runs (datasets, splits, methods, mask types, images per cell, the search) is the
config's (configs/table1.py), set with --config.<field>=<value>. CE models come from
`<ce_root>/<dataset>_<mask>` workdirs (experiments/train_context_encoder.py). Every cell is
resumable and cached under --workdir. Writes table1.md, table1.csv and the figures to --out.
"""

import os

from absl import app
from absl import flags

from inpaint_jax import commands
from inpaint_jax import configs
from inpaint_jax.configs import presets
from inpaint_jax.evaluation import table1

_CONFIG = commands.define_config(
    os.path.join(os.path.dirname(configs.__file__), "table1.py"),
    "Table 1 config (configs/table1.py).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/table1", "Cache of every cell's results.")
_OUT = flags.DEFINE_string("out", "results/table1", "Where the table and figures go.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = table1.validate(_CONFIG.value)
  inputs = {"--config.ce_root": config.ce_root}
  for name in config.datasets:
    entry = config[name]
    inputs[f"--config.{name}.folder"] = entry.folder
    inputs[f"--config.{name}.checkpoint"] = presets.model_path(entry.checkpoint)
  commands.check_paths({"--workdir": _WORKDIR.value, "--out": _OUT.value}, inputs)
  commands.choose_backend()
  runs, missing = table1.build_runs(config)
  if not runs:
    raise commands.UserError("no dataset can run: " + "; ".join(
        f"{k}: {v}" for k, v in missing.items()))
  table1.reproduce(runs, _WORKDIR.value, _OUT.value, missing, config)


if __name__ == "__main__":
  commands.run_main(main)
