"""Inpaints every image of a split with one mask type: PNGs, a CSV row each, a summary.

  python experiments/inpaint_split.py --config=inpaint_jax/configs/split.py:quality \
      --config.checkpoint=celeba --config.mask_type=center --out=results/celeba_center

Every setting is a field of the config (configs/split.py; the search's are configs/search.py),
set with --config.<field>=<value>. Shards each batch over all local devices. On several
hosts, start the same command on each with --coordinator_address, --num_processes and
--process_id: the hosts share the batches and the last one to finish writes results.csv.
Killed and started again with the same --out and settings, it resumes where it stopped;
other settings are refused (--config.fresh=true starts again).
"""

import os

from absl import app
from absl import flags
import jax

from inpaint_jax import commands
from inpaint_jax import configs
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.evaluation import metrics
from inpaint_jax.evaluation import runner

_CONFIG = commands.define_config(
    os.path.join(os.path.dirname(configs.__file__), "split.py"),
    "Run config (configs/split.py[:preset]).")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_COORD = flags.DEFINE_string("coordinator_address", None, "jax.distributed coordinator host:port.")
_NPROC = flags.DEFINE_integer("num_processes", 1, "Number of hosts.")
_PID = flags.DEFINE_integer("process_id", 0, "This host's index.")
flags.mark_flags_as_required(["out"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  commands.check_paths({"--out": _OUT.value}, runner.run_inputs(config))
  masks_lib.check_types((config.mask_type,), "--config.mask_type")
  if config.fid and not (config.write_images and metrics.inception_available()):
    raise ValueError("--config.fid=true needs " + (
        "--config.write_images=true (FID is scored from the written fills)"
        if not config.write_images else f"the Inception network: {metrics.METRICS_EXTRA}"))
  # Several hosts: each already runs its own share, so one device per process.
  commands.choose_backend(devices_per_core=not _COORD.value)
  if _COORD.value:
    jax.distributed.initialize(_COORD.value, _NPROC.value, _PID.value)
  model_config, params, source = runner.load_run(config)
  method = runner.ours(params, model_config, config.seed)
  summary = runner.run_cell(source, method, _OUT.value, config.mask_type, seed=config.seed,
                            batch_size=config.batch_size, num_images=config.num_images or None,
                            write_images=config.write_images, fresh=config.fresh)
  if "mean_psnr_hole" in summary:
    print(f"{_OUT.value}: {config.mask_type} masks, {runner.summary_line(summary)}"
          f"; every score in {_OUT.value}/summary.json")
    if config.fid:
      real = runner.real_features(source, summary["images"], _OUT.value)
      d = runner.score_distribution(_OUT.value, real, seed=config.seed)
      print(f"{_OUT.value}: FID {d['fid']:.2f}, KID {d['kid']:.4f} ± {d['kid_std']:.4f} over "
            f"{d['n']} images; in {_OUT.value}/distribution.json")
  else:  # another host merges the cell
    print(f"{_OUT.value}: {summary.get('images_done_here', 0)} images done by this host")


if __name__ == "__main__":
  commands.run_main(main)
