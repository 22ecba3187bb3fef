import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax.models import dcgan as models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import lib as benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_scipy_reference_blend_agrees_with_the_jax_blend():
  row, err = benchmark.bench_scipy_blend(batch=2)
  assert err < 1e-4 and row.per_s > 0


@pytest.mark.slow
def test_benchmark_entry_point_writes_table_and_json(tmp_path):
  out = tmp_path / "bench.json"
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "run.py"), "--batches=2",
       "--kernels=4", "--ngfs=8", "--impls=subpixel,matmul", "--iterations=2", "--train_batch=4",
       "--blend_batch=2", "--torch=false", "--loop_overhead=false", "--inputs=",
       "--presets=fast", "--preset_images=4", f"--out={out}"],
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  for impl in ("subpixel", "matmul", "subpixel bfloat16", "matmul bfloat16"):
    assert f"| search | {impl} | 8 | 4 | 2 |" in proc.stdout
  assert "| fast preset" not in proc.stdout and "| target | kernel |" in proc.stdout
  data = json.loads(out.read_text())
  whats = {r["what"] for r in data["rows"]}
  assert whats == {"search", "train", "blend", "preset"}
  assert data["environment"]["cpu_model"] and "jaxlib" in data["environment"]
  search_rows = [r for r in data["rows"] if r["what"] == "search"]
  assert all(r["per_s"] > 0 and r["gflop_per_item"] > 0 for r in search_rows)


def test_loop_overhead_and_input_benchmarks_run_and_report_figures():
  for model in benchmark.LOOP_MODELS:
    row = benchmark.bench_loop_overhead(steps=32, num_images=16, repeats=1, model=model)
    assert row.per_s > 0 and "loop / bare = " in row.note and model in row.impl
  for kind in ("folder", "folder lazy"):
    row = benchmark.bench_input(kind, num_images=16, batch=8, steps=3)
    assert row.what == "input" and row.impl == kind and row.per_s > 0


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch peer not installed")
def test_torch_peer_computes_the_same_model_and_search():
  import torch  # pylint: disable=g-import-not-at-top
  import torch_peer  # pylint: disable=g-import-not-at-top
  from inpaint_jax.core import losses, search  # pylint: disable=g-import-not-at-top
  from inpaint_jax.configs import default  # pylint: disable=g-import-not-at-top
  cfg = benchmark.model_config(8, 4)
  g_vars, d_vars = models.init_variables(cfg, jax.random.PRNGKey(0))
  # Non-trivial running statistics, so that the copy of every buffer is checked.
  g_vars = jax.tree.map(lambda a: a, g_vars)
  g_vars["batch_stats"] = jax.tree.map(lambda a: a + 0.1, g_vars["batch_stats"])
  g_vars["params"]["deconv3"]["kernel"] = g_vars["params"]["deconv3"]["kernel"] * 50
  tg, td = torch_peer.Generator(8, 4), torch_peer.Discriminator(8, 4)
  torch_peer.load_flax_weights(tg, td, g_vars, d_vars)
  tg.eval(); td.eval()
  g, d = models.build_models(cfg)
  z = np.random.default_rng(0).uniform(-1, 1, (3, 100)).astype(np.float32)
  x = np.asarray(g.apply(g_vars, z))
  with torch.no_grad():
    tx = tg(torch.from_numpy(z)).numpy().transpose(0, 2, 3, 1)
    tl = td(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
  np.testing.assert_allclose(tx, x, atol=1e-5)
  np.testing.assert_allclose(tl, np.asarray(d.apply(d_vars, x)), atol=1e-4, rtol=1e-4)
  # Ten search iterations from the same start land on the same z.
  scfg = default.get_config().search
  scfg.iterations = 10
  y = np.random.default_rng(1).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
  m = np.ones((3, 64, 64), np.float32)
  m[:, 16:48, 16:48] = 0
  z0 = jnp.asarray(z)[:, None]
  ours = search.search(g_vars, d_vars, y, m, z0, cfg, scfg)
  w = np.stack([np.asarray(losses.context_weights(jnp.asarray(mm))) for mm in m])
  theirs = torch_peer.search(tg, td, torch.from_numpy(y.transpose(0, 3, 1, 2).copy()),
                             torch.from_numpy(w), torch.from_numpy(z), 10).numpy()
  np.testing.assert_allclose(np.asarray(ours.z), theirs, atol=1e-4)


@pytest.mark.slow
def test_crop_framing_script_scores_both_framings_of_the_same_photos(tmp_path):
  from inpaint_jax.configs import tiny  # pylint: disable=import-outside-toplevel
  from inpaint_jax import model_files  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  config = tiny.get_config()  # trained on whole images: auto is 'stretch'
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  model = str(tmp_path / "tiny.msgpack")
  model_files.export_model(model, config, g_vars, d_vars)
  rng = np.random.default_rng(0)
  for i in range(3):
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(
        tmp_path / f"{i:05d}.png")
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "crop_framing.py"), "--dataset=cars",
       f"--checkpoint={model}", f"--folder={tmp_path}", "--split=range:00000:00002",
       "--preset=paper", "--iterations=2"], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "--crop auto   (CropRule(kind='none'" in proc.stdout
  assert "--crop square (CropRule(kind='center', fraction=1.0" in proc.stdout
  assert "over 3 photos" in proc.stdout and "auto - square: " in proc.stdout

