"""How every command of the project runs (`run_main`): user errors and bad flags end in one
line on stderr and exit status 2, `--help` exits 0, library INFO chatter is kept out."""

from __future__ import annotations

import functools
import logging as std_logging
import os
import re
import sys
from typing import Callable

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from inpaint_jax import backend


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
      message = " ".join(message.split())  # one line, whatever the library wrote
      print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
      sys.exit(2)

  return wrapped


def check_paths(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
  """Refuses, before anything is written, an output that would overwrite what the command
  reads: UserError naming both when an output (file or folder) is an input, lies inside an
  input folder (a dataset, a workdir, a folder of photos), or is a folder holding an input.

  outputs, inputs: {what, e.g. '--out': path}; empty entries are skipped; paths are
  compared resolved ('..', '~' and symbolic links followed)."""
  real = lambda p: os.path.realpath(os.path.expanduser(p))
  inside = lambda a, b: os.path.commonpath([a, b]) == b  # a is b or below it
  for out_name, out in outputs.items():
    if not out:
      continue
    out_real = real(out)
    for in_name, source in inputs.items():
      if not source:
        continue
      in_real = real(source)
      if out_real == in_real:
        raise UserError(f"{out_name} {out} is {in_name} {source}: writing it would overwrite "
                        "what the command reads; choose another path")
      if os.path.isdir(in_real) and inside(out_real, in_real):
        raise UserError(f"{out_name} {out} lies inside {in_name} {source}, which the command "
                        "reads; write it elsewhere")
      if inside(in_real, out_real) and not os.path.isfile(out_real):
        raise UserError(f"{out_name} {out} holds {in_name} {source}, which the command reads; "
                        "give an output folder of its own")


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing with a one-line error and exit status 2 (absl itself exits 1, and a
  `--config.x` override of a field the config lacks raised a traceback); `-h` is `--help`."""
  prog = os.path.basename(argv[0])
  argv = [argv[0]] + ["--help" if a == "-h" else a for a in argv[1:]]

  def fail(message: str):
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)

  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e).replace("\n", "; "))
  except (KeyError, AttributeError) as e:  # ml_collections: no such field
    fail(_unknown_field(argv, e))
  except SystemExit:
    if set(argv[1:]) & {"--help", "-?", "--helpshort", "--helpfull"}:
      sys.exit(0)  # absl exits 1 after printing the help that was asked for
    raise


def _unknown_field(argv: list[str], e: BaseException) -> str:
  """The one line for a `--config.x` override of a field the config lacks."""
  inner = e
  while isinstance(inner, BaseException) and inner.args:  # AttributeError(KeyError(text))
    inner = inner.args[0]
  text = str(inner)
  found = re.search(r"'([^']+)'", text)
  key = found.group(1) if found else text
  hint = re.search(r"Did you mean .*", text)
  given = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.") and key in a]
  return (f"{given[0] if given else 'a --config override'}: the config has no field {key!r}"
          + (f"; {hint.group(0)}" if hint else ""))


def define_config(default_file: str, help_text: str):
  """`--config` (an ml_collections file, `:arg` allowed, `--config.x=y` overrides) with a
  default file. config_flags applies the command line's overrides to a default file while
  the flag is defined, at import: an override of a field the config lacks is reported here
  in the one line `_parse_flags` gives, exit status 2."""
  try:
    holder = config_flags.DEFINE_config_file("config", default_file, help_text, lock_config=True)
  except (KeyError, AttributeError) as e:
    message = " ".join(_unknown_field(sys.argv, e).split())
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
    sys.exit(2)
  # absl files a flag under the module that defined it: the caller's --help lists it.
  caller = sys._getframe(1).f_globals.get("__name__")  # pylint: disable=protected-access
  flags.FLAGS.register_key_flag_for_module(sys.argv[0] if caller == "__main__" else caller,
                                           flags.FLAGS["config"])
  return holder


# What orbax's threads say, once per manager, about a step folder whose metadata is missing
# or damaged: `model_files` tries each step itself and says in one line what it did.
_ORBAX_STEP_METADATA = ("Metadata file does not exist", "Failed to json parse Metadata file")


class _DropLibraryInfo(std_logging.Filter):
  """Drops the INFO lines of JAX's backend probing and orbax's saves and restores, and
  orbax's complaints about a damaged step's metadata (its other warnings and errors still
  show); `--verbosity=1` shows everything."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if flags.FLAGS.verbosity >= 1:
      return True
    orbax = "orbax" in record.pathname
    if orbax and str(record.msg).startswith(_ORBAX_STEP_METADATA):
      return False
    noisy = orbax or record.name.startswith("jax._src.xla_bridge")
    return record.levelno >= std_logging.WARNING or not noisy


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


def choose_backend(devices_per_core: bool = True) -> None:
  """The one place a command picks its backend, before JAX starts: the XLA:CPU options and
  the stride-2 convolution form this machine runs fastest (`backend`: measured once by a
  micro-probe, ~20 s, cached per CPU model, core count, jaxlib version and the user's own
  XLA_FLAGS), and, with `devices_per_core`, one JAX CPU device per core, so the inference
  commands (which shard every batch over the local devices) run data-parallel: the search
  is 12-17% faster on 2 cores that way, while a training step is faster as one device
  (BUILD_NOTES.md). Prints one line naming the choice. Options the user set in XLA_FLAGS,
  and a form named in $INPAINT_JAX_CONV_IMPL, are kept; INPAINT_JAX_BACKEND=off switches
  the choice off (XLA's defaults, 'subpixel'). No effect once JAX has started its
  backends, so call it first in `main`."""
  user = os.environ.get("XLA_FLAGS", "")
  if os.environ.get(backend.OFF_ENV, "").strip().lower() not in ("off", "0", "false", "none"):
    announce = lambda path: print(
        "inpaint-jax: backend: measuring this machine once (~30 s; kept in "
        f"{os.path.dirname(path)})", file=sys.stderr, flush=True)
    choice, path, fresh = backend.cached_choice(user, announce=announce)
    if choice.get("platform") == "cpu":
      added = [f for f in choice["xla_flags"].split() if f.split("=")[0] not in user]
      if added:
        os.environ["XLA_FLAGS"] = " ".join([user, *added]).strip()
      impl = os.environ.setdefault(backend.CONV_IMPL_ENV, choice["conv_impl"])
      print(f"inpaint-jax: backend: {impl} convolutions, XLA options "
            f"{' '.join(added) or 'default'} ({'measured now' if fresh else 'as measured'} on "
            f"{choice.get('cpu', 'this CPU')}, {path}; {backend.OFF_ENV}=off: no choice)",
            file=sys.stderr, flush=True)
    else:
      print(f"inpaint-jax: backend: {choice.get('platform') or 'unknown'}, XLA's defaults",
            file=sys.stderr, flush=True)
  current = os.environ.get("XLA_FLAGS", "")
  cores = len(os.sched_getaffinity(0))
  if devices_per_core and "xla_force_host_platform_device_count" not in current and cores > 1:
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
    choose_backend(devices_per_core=False)
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    c = config.value
    folder = c.dataset.get("folder") if c.dataset.get("source") == "folder" else None
    check_paths({"--workdir": workdir.value},
                {"--config.dataset.folder": folder, "--config.dcgan": c.get("dcgan"),
                 "--config.init_from": c.get("init_from")})
    train_and_evaluate(c, workdir.value)

  run_main(main)
