"""The backend choice at start (`commands.choose_backend`, `inpaint_jax.backend`): measured
once, cached per CPU, printed in one line, switched off by INPAINT_JAX_BACKEND=off, never
overriding the user's XLA_FLAGS; a damaged cache is measured again."""

import json
import os
import subprocess
import sys

import pytest

from inpaint_jax import backend
from inpaint_jax import commands

GREEDY = backend.CANDIDATE_FLAGS[1]


@pytest.fixture
def chooser(monkeypatch, tmp_path):
  """The choice switched on, its cache in a folder of this test's, one core (no device count)."""
  monkeypatch.delenv(backend.OFF_ENV, raising=False)
  monkeypatch.delenv(backend.CONV_IMPL_ENV, raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
  return tmp_path / "cache"


def _seed(flags: str, impl: str, base: str = "") -> str:
  path = backend.cache_path(base)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump({"version": backend.CACHE_VERSION, "xla_flags": flags, "conv_impl": impl,
               "platform": "cpu", "cpu": "Test CPU"}, f)
  return path


def test_a_cached_choice_is_applied_and_named_in_one_line(chooser, monkeypatch, capsys):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  path = _seed(GREEDY, "matmul")
  commands.choose_backend()
  assert os.environ["XLA_FLAGS"] == GREEDY
  assert os.environ[backend.CONV_IMPL_ENV] == "matmul"
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "matmul convolutions" in err[0] and GREEDY in err[0]
  assert path in err[0] and "INPAINT_JAX_BACKEND=off" in err[0]


def test_the_users_flags_and_form_are_kept(chooser, monkeypatch, capsys):
  mine = "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_DISABLED"
  monkeypatch.setenv("XLA_FLAGS", mine)
  monkeypatch.setenv(backend.CONV_IMPL_ENV, "xla")
  _seed(GREEDY, "matmul", base=mine)  # the cache of this machine under the user's flags
  commands.choose_backend()
  assert os.environ["XLA_FLAGS"] == mine and os.environ[backend.CONV_IMPL_ENV] == "xla"
  assert "xla convolutions" in capsys.readouterr().err


def test_off_means_no_choice(chooser, monkeypatch, capsys):
  monkeypatch.setenv(backend.OFF_ENV, "off")
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  _seed(GREEDY, "matmul")
  commands.choose_backend()
  assert "XLA_FLAGS" not in os.environ and backend.CONV_IMPL_ENV not in os.environ
  assert capsys.readouterr().err == ""


def test_a_damaged_cache_is_measured_again_for_real(chooser, monkeypatch):
  """The real probe (two processes here: XLA's defaults and one option set, a tiny size)
  replaces a damaged file with a choice among the measured ones."""
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  path = backend.cache_path("")
  os.makedirs(os.path.dirname(path))
  with open(path, "w") as f:
    f.write('{"version": 1, "xla_fl')  # cut short
  assert backend.read_choice(path) is None
  real_measure = backend.measure
  monkeypatch.setattr(backend, "measure", lambda base: real_measure(base, size=(8, 4)))
  choice, where, fresh = backend.cached_choice("")
  assert fresh and where == path
  assert choice["platform"] == "cpu" and choice["conv_impl"] in backend.PROBED_IMPLS
  assert choice["xla_flags"] in backend.CANDIDATE_FLAGS
  assert {r["xla_flags"] for r in choice["runs"]} == set(backend.CANDIDATE_FLAGS)
  for run in choice["runs"]:
    for impl in backend.PROBED_IMPLS:
      assert run[impl]["search"] > 0 and run[impl]["train"] > 0
  assert backend.read_choice(path) == choice  # written whole
  assert backend.cached_choice("") == (choice, path, False)  # and read back, not measured


def test_a_users_command_goes_through_it(tmp_path):
  """`inpaint-jax demo` as a user runs it, with the choice on (a seeded cache): one line
  names the choice before the command's own output, and the command runs with it."""
  cache = tmp_path / "cache"
  env = dict(os.environ, XDG_CACHE_HOME=str(cache))
  env.pop(backend.OFF_ENV)
  env.pop(backend.CONV_IMPL_ENV, None)
  seed = ("import json, os, sys; sys.path.insert(0, '.'); from inpaint_jax import backend; "
          "p = backend.cache_path(os.environ.get('XLA_FLAGS', '')); os.makedirs(os.path.dirname(p));"
          "json.dump({'version': backend.CACHE_VERSION, 'xla_flags': '', 'conv_impl': 'matmul',"
          " 'platform': 'cpu', 'cpu': 'Test CPU'}, open(p, 'w'))")
  subprocess.run([sys.executable, "-c", seed], env=env, check=True)
  out = tmp_path / "demo"
  proc = subprocess.run([sys.executable, "-m", "inpaint_jax.cli", "demo", "--out", str(out),
                         "--preset", "fast", "--compilation_cache", "none"],
                        env=env, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("inpaint-jax: backend:")]
  assert len(lines) == 1 and "matmul convolutions" in lines[0], proc.stderr[-2000:]
  assert os.listdir(out)
