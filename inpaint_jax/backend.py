"""The CPU backend choice: which XLA:CPU options and which stride-2 convolution form
(`models.layers.CONV_IMPLS`) this machine runs fastest, measured once by a micro-probe and
cached per CPU model and jaxlib version (`commands.choose_backend` applies it at start).

Every candidate computes the same numbers (the forms are tested against each other and
against flax's convolutions; the XLA options only pick kernels): the choice is speed alone.
The probe runs each option set in its own Python process, since XLA reads its flags once,
when the backend starts: `python -m inpaint_jax.backend` prints one JSON line of timings.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time

# Importing JAX does not start its backends: XLA_FLAGS are read when the first one starts.
import jax
import jax.numpy as jnp
import jaxlib
import ml_collections

from inpaint_jax.models import dcgan

# The option sets the probe compares: the study (benchmarks/backend_study.py, BUILD_NOTES)
# found these the only XLA:CPU options that moved a whole search or training step on the
# machines measured; the convolution-library switches (oneDNN, XNNPACK, YNNPACK
# individual_convolution) moved single layers by no more than the run-to-run noise.
CANDIDATE_FLAGS = (
    "",
    "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
)
PROBED_IMPLS = ("subpixel", "matmul")
OFF_ENV = "INPAINT_JAX_BACKEND"  # 'off': no choice, XLA's defaults and 'subpixel'
CONV_IMPL_ENV = "INPAINT_JAX_CONV_IMPL"  # read by models.layers.compute_policy
CACHE_VERSION = 1


def cpu_model() -> str:
  """The CPU's model name (/proc/cpuinfo), else platform.processor()."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
  """The ISA features that decide the fast paths: AVX-512, its bfloat16 and VNNI parts, AMX."""
  try:
    with open("/proc/cpuinfo") as f:
      flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
  except OSError:
    return []
  wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_bf16",
            "amx_tile", "amx_int8")
  return [f for f in wanted if f in flags]


def cache_path(base_flags: str = "", cache_dir: str | None = None) -> str:
  """<cache>/inpaint_jax/backend/<cpu model>-<n>cores-jaxlib-<version>[-<flags hash>].json:
  one choice per CPU model, core count, jaxlib and the user's own XLA_FLAGS."""
  base = cache_dir or os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  slug = re.sub(r"[^A-Za-z0-9]+", "-", cpu_model()).strip("-").lower() or "cpu"
  flags = " ".join(base_flags.split())
  tail = f"-{hashlib.sha256(flags.encode()).hexdigest()[:8]}" if flags else ""
  return os.path.join(base, "inpaint_jax", "backend",
                      f"{slug}-{len(os.sched_getaffinity(0))}cores-jaxlib-{jaxlib.__version__}"
                      f"{tail}.json")


def read_choice(path: str) -> dict | None:
  """The cached choice, or None where it is missing, damaged or from another cache version."""
  try:
    with open(path) as f:
      choice = json.load(f)
    if (choice.get("version") == CACHE_VERSION and isinstance(choice.get("xla_flags"), str)
        and choice.get("conv_impl") in PROBED_IMPLS + ("",)):
      return choice
  except (OSError, ValueError, AttributeError):
    pass
  return None


def _write_atomic(path: str, text: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def probe_timings(ngf: int = 32, batch: int = 32, repeats: int = 3) -> dict:
  """In this process: seconds of one search-like step (the gradient of an L1 context loss
  plus the prior loss with respect to z, through G and D) and one training-like step (the
  gradient with respect to G's and D's parameters) for each form in PROBED_IMPLS, at
  `ngf`, kernel 4, 64x64, float32, on one device. {'platform', impl: {'search', 'train'}}."""

  out = {"platform": jax.devices()[0].platform}
  if out["platform"] != "cpu":
    return out
  y = jax.random.uniform(jax.random.PRNGKey(1), (batch, 64, 64, 3), minval=-1, maxval=1)
  z = jax.random.uniform(jax.random.PRNGKey(2), (batch, 100), minval=-1, maxval=1)
  for impl in PROBED_IMPLS:
    cfg = ml_collections.ConfigDict(dict(z_dim=100, ngf=ngf, ndf=ngf, kernel_size=4,
                                         image_size=64, conv_impl=impl, compute_dtype="float32"))
    g, d = dcgan.build_models(cfg)
    g_vars, d_vars = dcgan.init_variables(cfg, jax.random.PRNGKey(0))

    def loss(g_params, d_params, z):
      x = g.apply({"params": g_params, "batch_stats": g_vars["batch_stats"]}, z)
      logit = d.apply({"params": d_params, "batch_stats": d_vars["batch_stats"]}, x)
      return jnp.abs(x - y).sum() - 0.003 * jax.nn.softplus(logit).sum()

    steps = {"search": jax.jit(jax.grad(loss, argnums=2)),
             "train": jax.jit(jax.grad(loss, argnums=(0, 1)))}
    out[impl] = {}
    for name, step in steps.items():
      args = (g_vars["params"], d_vars["params"], z)
      jax.block_until_ready(step(*args))
      best = float("inf")
      for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(*args))
        best = min(best, time.perf_counter() - start)
      out[impl][name] = best
  return out


def measure(base_flags: str, timeout: float = 300.0, size: tuple[int, int] = (32, 32)) -> dict:
  """Runs the probe once per CANDIDATE_FLAGS set (each added to `base_flags`, the user's own
  XLA_FLAGS) in a fresh process and picks the fastest (option set, form) by the sum of the
  search and training step times (`size`: the probe's ngf and batch). Returns the choice to
  cache."""
  runs = []
  for flags in CANDIDATE_FLAGS:
    env = dict(os.environ, XLA_FLAGS=" ".join(f for f in (base_flags, flags) if f))
    env[OFF_ENV] = "off"  # the probe's own process must not choose again
    env.pop(CONV_IMPL_ENV, None)
    proc = subprocess.run([sys.executable, "-m", "inpaint_jax.backend", *map(str, size)], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
      runs.append({"xla_flags": flags, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]})
      continue
    runs.append({"xla_flags": flags, **json.loads(lines[-1])})
  timed = [(r[impl]["search"] + r[impl]["train"], r["xla_flags"], impl)
           for r in runs if r.get("platform") == "cpu" for impl in PROBED_IMPLS]
  if not timed:
    platform_seen = next((r["platform"] for r in runs if "platform" in r), "")
    return {"version": CACHE_VERSION, "xla_flags": "", "conv_impl": "",
            "platform": platform_seen, "runs": runs, "cpu": cpu_model()}
  _, flags, impl = min(timed)
  return {"version": CACHE_VERSION, "xla_flags": flags, "conv_impl": impl, "platform": "cpu",
          "cpu": cpu_model(), "cpu_features": cpu_features(), "runs": runs,
          "date": time.strftime("%Y-%m-%d %H:%M")}


def cached_choice(base_flags: str, cache_dir: str | None = None,
                  announce=lambda path: None) -> tuple[dict, str, bool]:
  """(choice, cache file, measured now?): the cached choice for this CPU and jaxlib, or a
  new measurement written there (a damaged cache file is measured again and replaced);
  `announce(path)` is called before a measurement starts."""
  path = cache_path(base_flags, cache_dir)
  choice = read_choice(path)
  if choice is not None:
    return choice, path, False
  announce(path)
  choice = measure(base_flags)
  try:
    _write_atomic(path, json.dumps(choice, indent=1))
  except OSError:
    pass  # a read-only home: the choice holds for this process only
  return choice, path, True


if __name__ == "__main__":
  print(json.dumps(probe_timings(*map(int, sys.argv[1:3]))))
