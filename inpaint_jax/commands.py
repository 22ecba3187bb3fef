"""How every command of the project runs (`run_main`): user errors and bad flags end in one
line on stderr and exit status 2, `--help` exits 0, library INFO chatter is kept out."""

from __future__ import annotations

import dataclasses
import functools
import logging as std_logging
import os
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags


class UserError(Exception):
  """A problem with the user's input or settings, reported in one line."""


def report_user_errors(main: Callable) -> Callable:
  """Wraps an absl `main(argv)`: UserError, absl's UsageError, ValueError (what the package
  raises for bad input) and OSError (a path that cannot be read or written: missing,
  forbidden, a full disk) end the program with `<prog>: error: <message>` and exit
  status 2."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except (UserError, app.UsageError, ValueError, OSError) as e:
      message = str(e)
      if isinstance(e, OSError) and e.strerror and e.filename:  # not "[Errno 13] ..."
        message = f"{e.strerror}: {e.filename}"
      print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
      sys.exit(2)

  return wrapped


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing with a one-line error and exit status 2 (absl itself exits 1)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"{os.path.basename(argv[0])}: error: {e}", file=sys.stderr)
    sys.exit(2)
  except SystemExit:
    if set(argv[1:]) & {"--help", "-h", "-?", "--helpshort", "--helpfull"}:
      sys.exit(0)  # absl exits 1 after printing the help that was asked for
    raise


class _DropLibraryInfo(std_logging.Filter):
  """Drops the INFO lines of JAX's backend probing and orbax's saves and restores (their
  warnings and errors still show); `--verbosity=1` shows everything."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    noisy = "orbax" in record.pathname or record.name.startswith("jax._src.xla_bridge")
    return record.levelno >= std_logging.WARNING or not noisy or flags.FLAGS.verbosity >= 1


def quiet_library_logs() -> None:
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _DropLibraryInfo) for f in handler.filters):
    handler.addFilter(_DropLibraryInfo())


_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache", None, "Where compiled XLA programs are kept between runs (JAX's "
    "persistent compilation cache), so a command run again skips most compilation. Default: "
    "$JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME (~/.cache)/inpaint_jax/xla; 'none': off.")


def default_compilation_cache() -> str:
  """The per-user directory of compiled programs: $XDG_CACHE_HOME/inpaint_jax/xla."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "inpaint_jax", "xla")


def use_compilation_cache(directory: str | None = None) -> str | None:
  """Turns on JAX's persistent compilation cache in `directory` (None: the environment's
  JAX_COMPILATION_CACHE_DIR, else `default_compilation_cache()`; 'none': off) and returns
  it. Every program is kept, however fast it compiled: the per-crop-size LPIPS programs of a
  pattern-mask cell take ~0.5 s each and dozens of them ~30 s of a CPU run (BUILD_NOTES.md).
  Call before anything compiles; settings the user made in the environment are kept."""
  if directory is None:
    directory = os.environ.get("JAX_COMPILATION_CACHE_DIR") or default_compilation_cache()
  if directory.strip().lower() in ("", "none", "off"):
    jax.config.update("jax_enable_compilation_cache", False)
    return None
  jax.config.update("jax_compilation_cache_dir", directory)
  for name, value in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                      ("jax_persistent_cache_min_entry_size_bytes", -1)):
    if name.upper() not in os.environ:
      jax.config.update(name, value)
  return directory


def run_main(main: Callable) -> None:
  """`app.run` for every command of the project: bad flags and user errors end in one line
  on stderr and exit status 2; library INFO lines are dropped; compiled programs are kept
  between runs (`use_compilation_cache`, `--compilation_cache`)."""
  quiet_library_logs()

  def with_cache(argv):
    use_compilation_cache(_COMPILATION_CACHE.value)
    return main(argv)

  app.run(report_user_errors(with_cache), flags_parser=_parse_flags)


def one_cpu_device_per_core() -> None:
  """Makes each CPU core this process may use its own JAX CPU device, so the inference
  commands (which shard every batch over the local devices) run data-parallel on a CPU:
  the latent search is 12-17% faster on 2 cores than one device using both cores
  (BUILD_NOTES.md). Training is not: its step is faster as one device. Keeps a device
  count the user set in XLA_FLAGS; no effect on accelerators (the flag is the CPU
  platform's) or once JAX has started its backends, so call it first in `main`."""
  current = os.environ.get("XLA_FLAGS", "")
  cores = len(os.sched_getaffinity(0))
  if "xla_force_host_platform_device_count" not in current and cores > 1:
    os.environ["XLA_FLAGS"] = f"{current} --xla_force_host_platform_device_count={cores}".strip()


def run_training(train_and_evaluate: Callable, what: str) -> None:
  """The main of every training script: `--config` (an ml_collections file, `:arg` allowed,
  `--config.x=y` overrides) and `--workdir`; `train_and_evaluate(config, workdir)` resumes
  from the workdir's latest checkpoint."""
  config = config_flags.DEFINE_config_file("config", None, f"{what} config file.",
                                           lock_config=True)
  workdir = flags.DEFINE_string("workdir", None, "Where checkpoints, samples and logs go.")
  flags.mark_flags_as_required(["config", "workdir"])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    train_and_evaluate(config.value, workdir.value)

  run_main(main)


@dataclasses.dataclass(frozen=True)
class SearchFlags:
  """The search flags every inpainting command shares (see `define_search_flags`)."""
  holders: dict

  def overrides(self) -> dict:
    """The values given on the command line (None where left out), by config name."""
    return {name: holder.value for name, holder in self.holders.items()}


def define_search_flags(fills: bool = False) -> SearchFlags:
  """Defines --preset, --iterations, --restarts, --halving_every, --start, --encoder,
  --tune_steps, --lr_schedule, --stop_every, --mirror (and --fills); their values go to
  `train.checkpoints.load_params`."""
  holders = {
      "preset": flags.DEFINE_enum("preset", None, ["paper", "fast", "quality"], "Search "
                                  "settings: paper (Yeh et al. exactly: random start, 1500 "
                                  "iterations), fast or quality (encoder start, see README); "
                                  "the flags below override single settings."),
      "iterations": flags.DEFINE_integer("iterations", None, "Search iterations (default: the "
                                         "model's config, 1500)."),
      "restarts": flags.DEFINE_integer("restarts", None, "Random restarts per image."),
      "halving_every": flags.DEFINE_integer("halving_every", None, "With several restarts: "
                                            "keep the better half every N iterations (0: off)."),
      "start": flags.DEFINE_enum("start", None, ["random", "encoder"], "Where restart 0 starts: "
                                 "random (the paper) or the latent encoder's z."),
      "encoder": flags.DEFINE_string("encoder", None, "Latent encoder file for --start=encoder "
                                     "(default: the bundled model's own)."),
      "tune_steps": flags.DEFINE_integer("tune_steps", None, "Per-image generator tuning steps "
                                         "after the search (0: off)."),
      "lr_schedule": flags.DEFINE_enum("lr_schedule", None, ["constant", "cosine"], "Adam's "
                                       "step size over the search: constant (the paper) or "
                                       "cosine (decays to 0 at the last iteration)."),
      "stop_every": flags.DEFINE_integer("stop_every", None, "Per-image stopping: every N "
                                         "iterations an image whose loss fell by less than "
                                         "0.1% stops (0: off)."),
      "mirror": flags.DEFINE_bool("mirror", None, "Also fill each image's mirror image and "
                                  "average the two fills: higher PSNR, slightly softer fills, "
                                  "twice the search (see README)."),
  }
  if fills:
    holders["fills"] = flags.DEFINE_integer("fills", None, "Write the best k distinct fills "
                                            "side by side (needs --restarts >= k).")
  return SearchFlags(holders)
