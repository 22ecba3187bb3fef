import json

import jax
import numpy as np
from PIL import Image

from inpaint_jax import checkpoints
from inpaint_jax import evaluation
from inpaint_jax import models
from inpaint_jax.configs import tiny


def test_run_examples_writes_grid_and_summary(tmp_path):
  config = tiny.get_config()
  config.search.iterations = 5
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  lines = []
  results = evaluation.run_examples(images, {"generator": g_vars, "discriminator": d_vars}, config,
                                    str(tmp_path), log=lines.append)
  assert [r.mask_type for r in results] == ["center", "pattern", "random", "half"]
  assert any("PSNR hole" in l and "center" in l for l in lines)
  grid = np.asarray(Image.open(tmp_path / "grid.png"))
  # One row of (original, masked, G, blended) per mask type: 2 images side by side.
  assert grid.shape == (2 * (4 * 34 + 2), 2 * (8 * 34 + 2), 3)
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["iterations"] == 5 and len(summary["per_mask_type"]) == 4
  for r in results:
    known = np.broadcast_to(r.masks[..., None] > 0, images.shape)
    assert np.array_equal(r.result.blended[known], images[known])
    assert np.isfinite(r.psnr_hole).all()


def test_exported_model_round_trip_and_old_configs_load(tmp_path):
  config = tiny.get_config()
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  path = str(tmp_path / "model.msgpack")
  checkpoints.export_model(path, config, g_vars, d_vars)
  loaded, g2, d2 = checkpoints.load_model(path)
  assert loaded.model.ngf == 8 and loaded.search.iterations == 1500
  for a, b in zip(jax.tree.leaves(g_vars), jax.tree.leaves(g2)):
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)  # float16 storage
  old = config.to_dict()
  del old["search"]
  merged = checkpoints.merge_with_defaults(old)
  assert merged.search.prior_weight == 0.003 and merged.model.ngf == 8
