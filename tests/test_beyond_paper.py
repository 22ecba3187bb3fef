"""The search beyond the paper: the latent encoder (training, files, the start it gives),
per-image generator tuning and k distinct fills, each against a hand-made or independent
reference."""

import json
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inpaint_jax import model_files
from inpaint_jax.configs import latent_encoder as le_config
from inpaint_jax.configs import tiny
from inpaint_jax.core import inpaint
from inpaint_jax.core import losses
from inpaint_jax.core import search
from inpaint_jax.core import tune
from inpaint_jax.data import masks as masks_lib
from inpaint_jax.models import dcgan
from inpaint_jax.models import latent_encoder
from inpaint_jax.models import layers
from inpaint_jax.train import latent_encoder as le_train


def _tiny_dcgan(seed=0):
  """A tiny 32x32 DCGAN whose G makes images with real structure (see test_search)."""
  config = tiny.get_config()
  config.search.steps_per_call = 0  # one rolled scan: compiles fastest
  g_vars, d_vars = dcgan.init_variables(config.model, jax.random.PRNGKey(seed))
  last = f"deconv{layers.num_resolution_steps(config.model.image_size) - 1}"
  g_vars = jax.tree.map(np.asarray, g_vars)
  g_vars["params"][last]["kernel"] = g_vars["params"][last]["kernel"] * 5000.0
  return config, g_vars, jax.tree.map(np.asarray, d_vars)


def _images(config, g_vars, n, seed=1):
  """Images G can make (so a search can fit them), [n, 32, 32, 3] in [-1, 1]."""
  g, _ = dcgan.build_models(config.model)
  z = jax.random.uniform(jax.random.PRNGKey(seed), (n, config.model.z_dim), minval=-1, maxval=1)
  return np.asarray(g.apply(g_vars, z, train=False))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
  config, g_vars, d_vars = _tiny_dcgan()
  path = str(tmp_path_factory.mktemp("model") / "tiny.msgpack")
  model_files.export_model(path, config, g_vars, d_vars, dtype=np.float32)
  return path


def _encoder_config(model_file):
  config = le_config.get_config("celeb_a")
  config.dcgan = model_file
  config.model.nf = 8
  config.model.image_size = 32
  config.dataset.download = False
  config.batch_size = 4
  config.num_steps = 6
  config.log_every = 2
  config.sample_every = 3
  config.checkpoint_every = 3
  config.progress_bar = False
  config.learning_rate = 2e-3
  return config


def test_mixed_masks_cycle_through_every_type():
  m = masks_lib.make_mixed_masks(32, 5, range(8))
  for i in range(8):
    kind = masks_lib.MASK_TYPES[i % 4]
    np.testing.assert_array_equal(m[i], masks_lib.make_mask(kind, 32, masks_lib.mask_seed(5, i)))


def test_encoder_shape_range_and_mask_use():
  config = tiny.get_config()
  enc_cfg = le_config.get_config().model
  e_vars = latent_encoder.init_variables(enc_cfg, config.model, jax.random.PRNGKey(0))
  e = latent_encoder.build(enc_cfg, config.model)
  x = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
  m = masks_lib.make_masks("center", 32, 0, range(3))
  z = np.asarray(e.apply(e_vars, x, m))
  assert z.shape == (3, config.model.z_dim) and np.abs(z).max() <= 1.0
  # What lies under the hole cannot change E's answer.
  x2 = np.where(m[..., None] > 0, x, -x)
  np.testing.assert_array_equal(z, np.asarray(e.apply(e_vars, x2, m)))


def test_encoder_training_learns_resumes_exports_and_checks_its_generator(model_file, tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("tensorflow")
  config = _encoder_config(model_file)
  with tfds.testing.mock_data(num_examples=8):
    from inpaint_jax.data import sources  # pylint: disable=g-import-not-at-top
    source = sources.make_source(config.dataset, "train", 32)

  straight = le_train.train_and_evaluate(config, str(tmp_path / "a"), source=source)
  half = config.copy_and_resolve_references()
  half.num_steps = 3
  le_train.train_and_evaluate(half, str(tmp_path / "b"), source=source)
  resumed = le_train.train_and_evaluate(config, str(tmp_path / "b"), source=source)
  for a, b in zip(jax.tree.leaves(straight.e), jax.tree.leaves(resumed.e)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert (tmp_path / "a" / "samples" / "step_0000006.png").exists()

  # Export, load against its own G, refuse another G.
  path = str(tmp_path / "e.msgpack")
  le_train.export(str(tmp_path / "a"), path, dtype=np.float32)
  model_config, g_vars, _ = model_files.load_model(model_file)
  enc_cfg, e_vars = model_files.load_encoder(path, model_config.model, g_vars)
  assert enc_cfg.nf == 8
  for a, b in zip(jax.tree.leaves(e_vars), jax.tree.leaves(straight.e.variables())):
    np.testing.assert_array_equal(a, np.asarray(b))
  _, other_g, _ = _tiny_dcgan(seed=7)
  with pytest.raises(ValueError, match="trained for another generator"):
    model_files.load_encoder(path, model_config.model, other_g)
  with pytest.raises(ValueError, match="not an inpaint-jax encoder file"):
    model_files.load_encoder(model_file, model_config.model, g_vars)

  # init_from: a later run starts from the exported file's or the workdir's E.
  for start in (path, str(tmp_path / "a")):
    config.init_from = start
    begun = le_train.create_train_state(config, model_config.model, g_vars, jax.random.PRNGKey(9))
    for a, b in zip(jax.tree.leaves(begun.e.variables()), jax.tree.leaves(straight.e.variables())):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="another generator"):
      le_train.create_train_state(config, model_config.model, other_g, jax.random.PRNGKey(9))
    # ... unless asked to warm-start an E for another G (a fine-tuned one) from it.
    config.init_from_other_generator = True
    warm = le_train.create_train_state(config, model_config.model, other_g, jax.random.PRNGKey(9))
    for a, b in zip(jax.tree.leaves(warm.e.variables()), jax.tree.leaves(straight.e.variables())):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert model_files.fingerprint(warm.g) == model_files.fingerprint(other_g)
    config.init_from_other_generator = False
  config.init_from = ""

  # Both losses fall when one batch is trained on repeatedly.
  state = le_train.create_train_state(config, model_config.model, g_vars, jax.random.PRNGKey(0))
  step = jax.jit(lambda s, b, r: le_train.train_step(
      s, b, r, config=config, model_config=model_config.model))
  real, sample = le_train.training_masks(config, 0, 32)
  assert real.shape == sample.shape == (4, 32, 32)
  for j, m in enumerate(np.concatenate([real, sample])):  # every type, in turn
    np.testing.assert_array_equal(m, masks_lib.draw(
        masks_lib.MASK_TYPES[j % 4], 32, jax.random.fold_in(masks_lib.training_key(
            config.mask_seed, 0), j)))
  # config.mask_type picks the mix ("all": the paper's four, then LaMa's) or one type.
  assert masks_lib.training_kinds("all", 9) == masks_lib.MASK_TYPES + ("center",)
  one = config.copy_and_resolve_references()
  one.mask_type = "half"
  for j, m in enumerate(np.concatenate(le_train.training_masks(one, 0, 32))):
    np.testing.assert_array_equal(m, masks_lib.draw("half", 32, jax.random.fold_in(
        masks_lib.training_key(config.mask_seed, 0), j)))
  one.mask_type = "stripes"
  with pytest.raises(ValueError, match="config.mask_type must be one of .*got 'stripes'"):
    le_train.task(one)
  batch = {"image": jnp.asarray(_images(model_config, g_vars, 4, seed=3))}
  history = []
  for _ in range(40):
    # The same batch and masks every time (the masks come from the state's step).
    state, metrics = step(state.replace(step=jnp.zeros((), jnp.int32)), batch,
                          jax.random.PRNGKey(0))
    history.append({k: float(v) for k, v in metrics.items()})
  assert history[-1]["latent_mse"] < 0.5 * history[0]["latent_mse"], history
  assert history[-1]["context_real"] < 0.8 * history[0]["context_real"], history


def test_mean_context_loss_by_hand():
  image = np.zeros((1, 8, 8, 3), np.float32)
  generated = np.full((1, 8, 8, 3), 0.5, np.float32)
  mask = np.ones((1, 8, 8), np.float32)
  mask[0, 2:6, 2:6] = 0
  # Every known pixel is off by 0.5 in each channel: the weighted mean is 0.5 whatever W is.
  np.testing.assert_allclose(le_train.mean_context_loss(generated, image, mask), [0.5], rtol=1e-6)


def test_encoder_start_puts_e_z_at_restart_0_and_leaves_the_others(tmp_path):
  config, g_vars, d_vars = _tiny_dcgan()
  config.search.iterations = 3
  config.search.restarts = 2
  config.search.learning_rate = 0.0  # z stays where it started
  config.search.start = "encoder"
  e_vars = latent_encoder.init_variables(config.encoder, config.model, jax.random.PRNGKey(4))
  x = _images(config, g_vars, 3)
  m = masks_lib.make_masks("half", 32, 0, range(3))
  params = {"generator": g_vars, "discriminator": d_vars, "encoder": e_vars}
  z0 = np.asarray(search.initial_z(inpaint.image_keys(0, range(3)), 2, config.model.z_dim))
  z0 = z0 + 0.0
  e_z = np.asarray(latent_encoder.build(config.encoder, config.model).apply(e_vars, x, m))
  z0[:, 0] = e_z
  expect = search.search(g_vars, d_vars, x, m, z0, config.model, config.search)
  out = inpaint.inpaint(x, m, params, config, seed=0, ids=range(3))
  np.testing.assert_allclose(out.losses["restarts"], expect.restart_losses, rtol=1e-5)
  np.testing.assert_allclose(out.z, expect.z, atol=1e-6)

  with pytest.raises(ValueError, match="needs a latent encoder"):
    inpaint.inpaint(x, m, {"generator": g_vars, "discriminator": d_vars}, config)
  config.search.start = "middle"
  with pytest.raises(ValueError, match="'random' or 'encoder'"):
    inpaint.inpaint(x, m, params, config)


def test_layer_depths_by_hand():
  config = tiny.get_config()  # 32x32: project, deconv0, deconv1, deconv2
  g_vars, _ = dcgan.init_variables(config.model, jax.random.PRNGKey(0))
  depths, blocks = tune.layer_depths(g_vars["params"])
  assert blocks == 4
  assert depths["project"]["kernel"] == 0 and depths["bn_project"]["scale"] == 0
  assert depths["deconv0"]["kernel"] == 1 and depths["bn_deconv1"]["bias"] == 2
  assert depths["deconv2"]["kernel"] == 3 and depths["deconv2"]["bias"] == 3


def _tune_cfg(steps, lr=1e-3, feature_weight=1.0):
  config = tiny.get_config()
  config.search.tune_steps = steps
  config.search.tune_learning_rate = lr
  config.search.tune_feature_weight = feature_weight
  return config


def test_first_tuning_stage_moves_only_the_last_layer():
  config, g_vars, d_vars = _tiny_dcgan()
  cfg = _tune_cfg(4).search  # 4 blocks, 4 steps: step t frees the last t + 1 blocks
  cfg.tune_steps = 1
  g, d = dcgan.build_models(config.model)
  x = _images(config, g_vars, 1)[0]
  m = masks_lib.make_mask("center", 32, 0)
  w = losses.importance_weights(m)
  z = jnp.zeros((config.model.z_dim,))
  params, _ = tune.tuned_params(g_vars, d_vars, x, m, w, z, generator=g, discriminator=d,
                                cfg=ml_frozen(cfg))
  for name, leaves in params.items():
    moved = any(not np.array_equal(np.asarray(a), b)
                for a, b in zip(jax.tree.leaves(leaves), jax.tree.leaves(g_vars["params"][name])))
    assert moved == (name == "deconv2"), name


def ml_frozen(cfg):
  import ml_collections  # pylint: disable=g-import-not-at-top
  return ml_collections.FrozenConfigDict(cfg)


def test_tuning_lowers_the_context_loss_and_blending_keeps_known_pixels():
  config, g_vars, d_vars = _tiny_dcgan()
  # Targets G cannot make exactly: its own images plus a smooth shift.
  x = np.clip(_images(config, g_vars, 3) * 0.7 + 0.2, -1, 1)
  m = masks_lib.make_masks("center", 32, 0, range(3))
  params = {"generator": g_vars, "discriminator": d_vars}
  config.search.iterations = 20
  plain = inpaint.inpaint(x, m, params, config, ids=range(3))
  config.search.tune_steps = 30
  config.search.tune_learning_rate = 1e-3
  tuned = inpaint.inpaint(x, m, params, config, ids=range(3))
  np.testing.assert_allclose(tuned.z, plain.z)  # tuning moves G, not z
  w = np.stack([np.asarray(losses.importance_weights(mm)) for mm in m])
  ctx = lambda gen: np.array([float(losses.context_loss(gen[i], x[i], w[i])) for i in range(3)])
  assert (ctx(tuned.generated) < 0.8 * ctx(plain.generated)).all(), (ctx(tuned.generated),
                                                                     ctx(plain.generated))
  known = m[..., None] > 0
  np.testing.assert_allclose(np.where(known, tuned.blended, 0), np.where(known, x, 0), atol=1e-6)


def test_distinct_best_by_hand():
  gen = np.zeros((4, 2, 2, 3), np.float32)
  gen[1] = 0.001  # nearly restart 0's image
  gen[2] = 0.5
  gen[3] = -0.5
  hole = np.ones((2, 2), np.float32)
  total = np.array([3.0, 1.0, 2.0, 4.0], np.float32)
  chosen, count = search.distinct_best(gen, total, hole, 3, 0.02)
  # Order by loss: 1, 2, 0 (too close to 1, skipped), 3.
  np.testing.assert_array_equal(np.asarray(chosen), [1, 2, 3])
  assert int(count) == 3
  chosen, count = search.distinct_best(gen[:2], total[:2], hole, 2, 0.02)
  np.testing.assert_array_equal(np.asarray(chosen), [1, 1])  # the one distinct fill, repeated
  assert int(count) == 1


def test_k_fills_are_distinct_sorted_by_loss_and_the_first_is_the_result():
  config, g_vars, d_vars = _tiny_dcgan()
  config.search.iterations = 10
  config.search.restarts = 5
  config.search.fills = 3
  x = _images(config, g_vars, 2)
  m = masks_lib.make_masks("center", 32, 0, range(2))
  out = inpaint.inpaint(x, m, {"generator": g_vars, "discriminator": d_vars}, config,
                        ids=range(2))
  assert out.fills.shape == (2, 3, 32, 32, 3)
  np.testing.assert_array_equal(out.fills[:, 0], out.blended)
  assert (np.diff(out.losses["fills"], axis=1) >= 0).all()
  np.testing.assert_allclose(out.losses["fills"][:, 0], out.losses["restarts"].min(axis=1))
  # The search's own fills (before blending) differ over the hole by the threshold.
  z0 = search.initial_z(inpaint.image_keys(0, range(2)), 5, config.model.z_dim)
  res = search.search(g_vars, d_vars, x, m, z0, config.model, config.search)
  np.testing.assert_allclose(res.fill_total, out.losses["fills"], rtol=1e-5)
  hole = (1 - m)[..., None]
  for i in range(2):
    assert out.fill_count[i] == 3
    for a in range(3):
      assert np.isin(out.losses["fills"][i, a], out.losses["restarts"][i])
      for b in range(a):
        diff = np.abs(np.asarray(res.fill_generated[i, a] - res.fill_generated[i, b])) * hole[i]
        assert diff.sum() / (3 * hole[i].sum()) >= 0.02
  config.search.fills = 6
  with pytest.raises(ValueError, match="fills must be between 1 and the number of restarts"):
    inpaint.inpaint(x, m, {"generator": g_vars, "discriminator": d_vars}, config)


def test_mirror_averages_each_image_s_fill_with_its_mirror_image_s():
  config, g_vars, d_vars = _tiny_dcgan()
  config.search.iterations = 4
  config.search.restarts = 2
  config.search.mirror = True
  x = _images(config, g_vars, 3)
  # Half masks are not mirror-symmetric (left/right halves swap), so the two problems differ.
  m = masks_lib.make_masks("half", 32, 0, range(3))
  params = {"generator": g_vars, "discriminator": d_vars}
  out = inpaint.inpaint(x, m, params, config, ids=range(3))
  # Reference: two separate searches, the mirror image's from its own key stream.
  keys = inpaint.image_keys(0, range(3))
  own = search.search(g_vars, d_vars, x, m, search.initial_z(keys, 2, config.model.z_dim),
                      config.model, config.search)
  flipped = search.search(g_vars, d_vars, x[:, :, ::-1], m[:, :, ::-1],
                          search.initial_z(inpaint.mirror_keys(keys), 2, config.model.z_dim),
                          config.model, config.search)
  expect = 0.5 * (np.asarray(own.generated) + np.asarray(flipped.generated)[:, :, ::-1])
  np.testing.assert_allclose(out.generated, expect, atol=1e-5)
  np.testing.assert_allclose(out.z, own.z, atol=1e-6)
  np.testing.assert_allclose(out.losses["total"], own.total_loss, rtol=1e-5)
  assert np.abs(np.asarray(own.generated) - expect).max() > 1e-3  # the mirror search counts
  known = m[..., None] > 0
  np.testing.assert_allclose(np.where(known, out.blended, 0), np.where(known, x, 0), atol=1e-6)
  # Per image: the same result alone as in the batch (the chunk holds both problems).
  alone = inpaint.inpaint(x[2:], m[2:], params, config, ids=[2])
  np.testing.assert_allclose(alone.generated[0], out.generated[2], atol=1e-5)


def test_tuning_in_chunks_equals_one_scan_per_image():
  config, g_vars, d_vars = _tiny_dcgan()
  config.search.tune_steps = 7
  config.search.tune_learning_rate = 1e-3
  config.search.steps_per_call = 3  # chunks of 3, 3, 1
  g, d = dcgan.build_models(config.model)
  x = _images(config, g_vars, 2)
  m = masks_lib.make_masks("pattern", 32, 0, range(2))
  z = np.random.default_rng(0).uniform(-1, 1, (2, config.model.z_dim)).astype(np.float32)
  generated, curves = tune.tune(g_vars, d_vars, x, m, z, config.model, config.search)
  for i in range(2):
    params, curve = tune.tuned_params(g_vars, d_vars, x[i], m[i], losses.importance_weights(m[i]),
                                      z[i], generator=g, discriminator=d,
                                      cfg=ml_frozen(config.search))
    one = g.apply({"params": params, "batch_stats": g_vars["batch_stats"]}, z[i][None])[0]
    np.testing.assert_allclose(generated[i], one, atol=2e-5)
    np.testing.assert_allclose(curves[i], curve, rtol=1e-5)
    assert curve[-1] < curve[0]
    # With latent averaging: the tuned copy of G averaged over ẑ and its noisy copies.
    config.search.latent_noise = 0.4
    eps = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (2, 3, config.model.z_dim)))
    averaged, _ = tune.tune(g_vars, d_vars, x, m, z, config.model, config.search, noise=eps)
    codes = np.concatenate([z[i][None], np.clip(z[i][None] + 0.4 * eps[i], -1, 1)])
    each = g.apply({"params": params, "batch_stats": g_vars["batch_stats"]}, codes)
    np.testing.assert_allclose(averaged[i], np.mean(each, axis=0), atol=2e-5)


def test_curve_points_are_scored_timed_and_reuse_compiled_programs():
  from inpaint_jax.evaluation import curves  # pylint: disable=g-import-not-at-top
  config, g_vars, d_vars = _tiny_dcgan()
  config.search.steps_per_call = 5
  x = _images(config, g_vars, 2)
  m = masks_lib.make_masks("center", 32, 0, range(2))
  params = {"generator": g_vars, "discriminator": d_vars}
  first = curves.measure_point(x, m, params, config, dict(iterations=10, restarts=3), ids=range(2))
  again = curves.measure_point(x, m, params, config, dict(iterations=25, restarts=3), ids=range(2))
  assert first["compile_s"] > 0 and again["compile_s"] < 0.2 * first["compile_s"], (first, again)
  assert again["time_s"] == pytest.approx(again["wall_s"] - again["compile_s"])
  assert again["iterations"] == 25 and again["images"] == 2
  # The score is the mean of metrics.scores over the images of that very run.
  config.search.iterations, config.search.restarts = 25, 3
  out = inpaint.inpaint(x, m, params, config, ids=range(2))
  from inpaint_jax.evaluation import metrics  # pylint: disable=g-import-not-at-top
  assert again["psnr_hole"] == pytest.approx(float(np.mean(metrics.psnr(out.blended, x, 1 - m))),
                                             rel=1e-5)
  points = curves.measure(x, m, params, config, {"paper": [dict(iterations=5)],
                                                 "encoder": [dict(start="encoder", iterations=5)]},
                          ids=range(2), log=lambda s: None)
  assert [p["family"] for p in points] == ["paper"]  # no encoder in params: skipped
  png = curves.plot({"center": points + [dict(points[0], family="x", time_s=1.0)]}, "t")
  assert png.startswith(b"\x89PNG")


def test_saved_curves_are_reused_only_for_the_same_images_settings_and_models():
  from inpaint_jax.evaluation import curves  # pylint: disable=g-import-not-at-top
  _, g_vars, d_vars = _tiny_dcgan()
  families = {"paper": [dict(iterations=5)]}
  params = {"generator": g_vars, "discriminator": d_vars}
  key = curves.measured_with(4, families, params)
  assert json.loads(json.dumps(key)) == key  # stored as JSON, compared after a round trip
  assert curves.measured_with(4, {"paper": [dict(iterations=5)]}, params) == key
  retrained = jax.tree.map(lambda a: a + 1e-3, g_vars)
  changed = [curves.measured_with(5, families, params),
             curves.measured_with(4, {"paper": [dict(iterations=6)]}, params),
             curves.measured_with(4, families, {**params, "generator": retrained}),
             curves.measured_with(4, families, {**params, "encoder": {"w": np.ones(3)}})]
  assert all(c != key for c in changed)
  assert curves.measured_with(4, families, {**params, "encoder": {"w": np.ones(3)}}) != \
      curves.measured_with(4, families, {**params, "encoder": {"w": np.zeros(3)}})


def test_latent_average_by_a_loop_and_in_inpaint_with_the_mirror():
  config, g_vars, d_vars = _tiny_dcgan()
  g, _ = dcgan.build_models(config.model)
  z = np.asarray(jax.random.uniform(jax.random.PRNGKey(3), (2, config.model.z_dim),
                                    minval=-1, maxval=1))
  eps = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (2, 3, config.model.z_dim)))
  out = np.asarray(search.latent_average(g_vars, z, eps, 0.5, config.model))
  for i in range(2):  # reference: G image by image, then the plain mean
    zs = [z[i]] + [np.clip(z[i] + 0.5 * e, -1, 1) for e in eps[i]]
    each = [np.asarray(g.apply(g_vars, jnp.asarray(v)[None], train=False))[0] for v in zs]
    np.testing.assert_allclose(out[i], np.mean(each, axis=0), atol=1e-5)
  assert np.abs(out - np.asarray(g.apply(g_vars, z, train=False))).max() > 1e-3
  np.testing.assert_allclose(search.latent_average(g_vars, z, eps, 0.0, config.model),
                             g.apply(g_vars, z, train=False), atol=1e-5)  # σ 0: G(ẑ)
  # In inpaint, with the mirror: each problem's G averaged near its own ẑ (noise from its
  # own key stream), then the two means averaged as the mirror does.
  config.search.iterations = 4
  config.search.mirror = True
  config.search.latent_samples = 3
  config.search.latent_noise = 0.3
  x = _images(config, g_vars, 3)
  m = masks_lib.make_masks("half", 32, 0, range(3))
  params = {"generator": g_vars, "discriminator": d_vars}
  res = inpaint.inpaint(x, m, params, config, ids=range(3))
  keys = inpaint.image_keys(0, range(3))
  sides = []
  for k, xx, mm in ((keys, x, m), (inpaint.mirror_keys(keys), x[:, :, ::-1], m[:, :, ::-1])):
    zhat = search.search(g_vars, d_vars, xx, mm, search.initial_z(k, 1, config.model.z_dim),
                         config.model, config.search).z
    sides.append(np.asarray(search.latent_average(
        g_vars, zhat, inpaint.latent_noise(k, 3, config.model.z_dim), 0.3, config.model)))
  np.testing.assert_allclose(res.generated, 0.5 * (sides[0] + sides[1][:, :, ::-1]), atol=1e-5)
  alone = inpaint.inpaint(x[1:2], m[1:2], params, config, ids=[1])  # not its batch position
  np.testing.assert_allclose(alone.generated[0], res.generated[1], atol=1e-5)
