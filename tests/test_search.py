import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inpaint_jax.configs import tiny
from inpaint_jax.core import losses
from inpaint_jax.core import search
from inpaint_jax.data import masks
from inpaint_jax.evaluation import metrics
from inpaint_jax.models import dcgan as models
from inpaint_jax.models import layers


def _setup(iterations=15, restarts=2, **search_overrides):
  config = tiny.get_config()
  config.search.iterations = iterations
  config.search.restarts = restarts
  for k, v in search_overrides.items():
    setattr(config.search, k, v)
  g_vars, d_vars = models.init_variables(config.model, jax.random.PRNGKey(0))
  # A freshly initialised G is almost constant (std ~1e-3); scaling its last layer gives
  # images with real structure (std ~0.3) so that recovering them means something.
  last = f"deconv{layers.num_resolution_steps(config.model.image_size) - 1}"
  g_vars = jax.tree.map(lambda a: a, g_vars)
  g_vars["params"][last]["kernel"] = g_vars["params"][last]["kernel"] * 5000.0
  return config, g_vars, d_vars


def test_vmap_over_restarts_and_images_equals_a_loop_of_single_searches():
  config, g_vars, d_vars = _setup()
  b, r, zd = 3, 2, config.model.z_dim
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (b, 32, 32, 3)).astype(np.float32)
  mask = masks.make_masks("pattern", 32, 0, range(b))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(3), b), r, zd)
  batched = search.search(g_vars, d_vars, images, mask, z0, config.model, config.search)

  g, d = models.build_models(config.model)
  one = jax.jit(functools.partial(search.search_one, generator=g, discriminator=d,
                                  cfg=config.search))
  for i in range(b):
    w = losses.context_weights(jnp.asarray(mask[i]))
    runs = [one(g_vars, d_vars, images[i], w, z0[i, k]) for k in range(r)]
    totals = np.array([float(run[4]) for run in runs])
    np.testing.assert_allclose(batched.restart_losses[i], totals, rtol=1e-5, atol=1e-5)
    best = runs[int(np.argmin(totals))]
    np.testing.assert_allclose(batched.z[i], best[0], atol=1e-5)
    np.testing.assert_allclose(batched.generated[i], best[1], atol=1e-5)
    np.testing.assert_allclose(batched.context_loss[i], best[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched.total_loss[i], totals.min(), rtol=1e-5, atol=1e-5)


def test_z_is_clipped_and_the_loss_goes_down():
  config, g_vars, d_vars = _setup(iterations=40, restarts=3, learning_rate=0.2, curve_stride=1)
  g, _ = models.build_models(config.model)
  # The target's code lies outside the box, so the unconstrained optimum does too.
  z_far = 3.0 * jnp.sign(jax.random.normal(jax.random.PRNGKey(9), (2, config.model.z_dim)))
  images = np.asarray(g.apply(g_vars, z_far))
  mask = masks.make_masks("center", 32, 0, range(2))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(0), 2), 3, config.model.z_dim)
  res = search.search(g_vars, d_vars, images, mask, z0, config.model, config.search)
  z = np.asarray(res.z)
  assert np.abs(z).max() <= 1.0
  assert (np.abs(z) == 1.0).mean() > 0.2  # many coordinates rest on the box: clipping acts
  curve = np.asarray(res.curve)
  assert curve.shape == (2, 40)
  assert (res.total_loss < curve[:, 0]).all()


def test_recovers_a_generated_image_far_better_than_a_mean_fill():
  config, g_vars, d_vars = _setup(iterations=200, restarts=2)
  g, _ = models.build_models(config.model)
  z_true = jax.random.uniform(jax.random.PRNGKey(5), (4, config.model.z_dim), minval=-1, maxval=1)
  y = np.asarray(g.apply(g_vars, z_true))
  assert y.std() > 0.2
  mask = masks.make_masks("center", 32, 0, range(4))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(1), 4), 2, config.model.z_dim)
  res = search.search(g_vars, d_vars, y, mask, z0, config.model, config.search)
  hole = 1.0 - mask
  known = mask[..., None]
  mean_colour = (y * known).sum(axis=(1, 2), keepdims=True) / known.sum(axis=(1, 2), keepdims=True)
  mean_fill = np.where(known > 0, y, mean_colour)
  ours = np.asarray(metrics.psnr(res.generated, y, hole))
  baseline = np.asarray(metrics.psnr(mean_fill, y, hole))
  # Measured: ~70 dB against ~16 dB; assert a margin of 20 dB on every image.
  assert (ours > baseline + 20.0).all(), (ours, baseline)


def test_images_do_not_influence_each_other():
  config, g_vars, d_vars = _setup(iterations=10, restarts=1)
  rng = np.random.default_rng(2)
  images = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
  mask = masks.make_masks("half", 32, 0, range(4))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(0), 4), 1, config.model.z_dim)
  full = search.search(g_vars, d_vars, images, mask, z0, config.model, config.search)
  alone = search.search(g_vars, d_vars, images[1:2], mask[1:2], z0[1:2], config.model,
                        config.search)
  np.testing.assert_allclose(full.generated[1], alone.generated[0], atol=1e-5)


def test_chunked_unrolled_calls_equal_one_rolled_scan():
  config, g_vars, d_vars = _setup(iterations=11, restarts=2, curve_stride=1)
  rng = np.random.default_rng(3)
  images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  mask = masks.make_masks("random", 32, 0, range(2))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(4), 2), 2, config.model.z_dim)
  results = {}
  calls = {}
  for n in (0, 4):  # one scan of 11; chunks of 4, 4, 3 unrolled steps
    config.search.steps_per_call = n
    calls[n] = []
    results[n] = search.search(g_vars, d_vars, images, mask, z0, config.model, config.search,
                               progress=calls[n].append)
  assert calls == {0: [11], 4: [4, 4, 3]}
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[4])):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
  assert results[4].curve.shape == (2, 11)


def test_starting_points_depend_on_the_image_key_and_restart_only():
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  three = np.asarray(search.initial_z(keys, 2, 8))
  reordered = np.asarray(search.initial_z(keys[::-1], 5, 8))
  assert three.shape == (3, 2, 8) and reordered.shape == (3, 5, 8)
  np.testing.assert_array_equal(three[0], reordered[2, :2])  # more restarts keep the first
  assert np.abs(three).max() <= 1.0 and not np.array_equal(three[0, 0], three[0, 1])


def test_halving_keeps_the_restart_an_exhaustive_search_picks_and_prunes_the_rest():
  # Restart 2 of each image starts at the code that generated the image (its loss is ~0
  # from the start), the others at random: halving must keep it through every cut and
  # end where the exhaustive search (all restarts to the end) ends.
  config, g_vars, d_vars = _setup(iterations=30, restarts=4, steps_per_call=0)  # quick compiles
  g, _ = models.build_models(config.model)
  z_true = jax.random.uniform(jax.random.PRNGKey(5), (3, config.model.z_dim), minval=-1, maxval=1)
  y = np.asarray(g.apply(g_vars, z_true))
  mask = masks.make_masks("center", 32, 0, range(3))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(1), 3), 4, config.model.z_dim)
  z0 = z0.at[:, 2].set(z_true)
  exhaustive = search.search(g_vars, d_vars, y, mask, z0, config.model, config.search)
  assert (np.argmin(exhaustive.restart_losses, axis=1) == 2).all()
  config.search.halving_every = 10
  calls = []
  halved = search.search(g_vars, d_vars, y, mask, z0, config.model, config.search,
                         progress=calls.append)
  assert halved.restart_losses.shape == (3, 1)  # 4 -> 2 -> 1 after 10 and 20 iterations
  assert sum(calls) == 30
  np.testing.assert_allclose(halved.z, exhaustive.z, atol=1e-5)
  np.testing.assert_allclose(halved.total_loss, exhaustive.total_loss, rtol=1e-4, atol=1e-6)
  # The cut itself: the better half by latest loss, kept in order, rounded up.
  z = jnp.arange(2 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 1)
  totals = jnp.array([[5., 1., 4., 2., 3.], [0., 9., 8., 7., 1.]])[..., None]
  kept_z, _, kept_totals = search._keep_better_half(z, {"count": jnp.zeros((2, 5))}, totals)  # pylint: disable=protected-access
  assert kept_z[..., 0].tolist() == [[1., 3., 4.], [5., 8., 9.]]
  assert kept_totals[..., 0].tolist() == [[1., 2., 3.], [0., 7., 1.]]


def _optax_search(g_vars, d_vars, images, masks_, z0, config, learning_rate):
  """An independent search: optax's own Adam (and schedule) in a plain scan, per image."""
  g, d = models.build_models(config.model)
  cfg = config.search
  tx = optax.adam(learning_rate, b1=cfg.beta1, b2=cfg.beta2)

  def one(image, mask, z):
    w = losses.context_weights(mask)

    def loss(z):
      x = g.apply(g_vars, z[None], train=False)[0]
      logit = d.apply(d_vars, x[None], train=False)[0]
      return losses.context_loss(x, image, w) + losses.prior_loss(logit, cfg.prior_weight)

    def step(carry, _):
      z, state = carry
      updates, state = tx.update(jax.grad(loss)(z), state, z)
      return (jnp.clip(optax.apply_updates(z, updates), -1.0, 1.0), state), None

    return jax.lax.scan(step, (z, tx.init(z)), None, length=cfg.iterations)[0][0]

  return np.asarray(jax.jit(jax.vmap(one))(images, jnp.asarray(masks_), z0))


def test_step_size_schedules_match_optax():
  # 12 iterations in chunks of 5, 5, 2 (rolled scans cut where restarts would be halved,
  # quick to compile): the schedule must follow the whole search, not each chunk.
  config, g_vars, d_vars = _setup(iterations=12, restarts=1, learning_rate=0.05,
                                  steps_per_call=0, halving_every=5)
  rng = np.random.default_rng(7)
  images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  mask = masks.make_masks("center", 32, 0, range(2))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(8), 2), 1, config.model.z_dim)
  schedules = {"constant": 0.05, "cosine": optax.cosine_decay_schedule(0.05, 12)}
  found = {}
  for name, reference_lr in schedules.items():
    config.search.lr_schedule = name
    calls = []
    found[name] = search.search(g_vars, d_vars, images, mask, z0, config.model, config.search,
                                progress=calls.append).z
    assert calls == [5, 5, 2]
    expect = _optax_search(g_vars, d_vars, images, mask, z0[:, 0], config, reference_lr)
    np.testing.assert_allclose(found[name], expect, atol=2e-5, err_msg=name)
  assert np.abs(found["constant"] - found["cosine"]).max() > 1e-3  # the schedule matters
  cfg = config.search
  got = [float(search.step_size(cfg, jnp.int32(t), jnp.int32(25))) for t in (0, 5, 25, 40)]
  np.testing.assert_allclose(got, [0.05, 0.05 * 0.5 * (1 + np.cos(np.pi / 5)), 0.0, 0.0],
                             atol=1e-7)


def test_per_image_stopping_follows_its_rule_and_keeps_the_stopped_state():
  # Images 0 and 2 start at the code that generated them (their loss is flat from the
  # start), 1 and 3 at random: the flat ones must stop at the first check, the others go
  # on; each ends exactly where a search of its own length ends.
  config, g_vars, d_vars = _setup(iterations=40, restarts=2, steps_per_call=0, curve_stride=1)
  g, _ = models.build_models(config.model)
  b = 4
  z_true = jax.random.uniform(jax.random.PRNGKey(5), (b, config.model.z_dim), minval=-1, maxval=1)
  y = np.asarray(g.apply(g_vars, z_true))
  mask = masks.make_masks("center", 32, 0, range(b))
  z0 = search.initial_z(jax.random.split(jax.random.PRNGKey(1), b), 2, config.model.z_dim)
  z0 = z0.at[0].set(z_true[0]).at[2].set(z_true[2])
  full = search.search(g_vars, d_vars, y, mask, z0, config.model, config.search)
  # The rule by hand, from the full run's record of every restart's loss before each step.
  every, tol = 10, 0.05
  curves = []
  for i in range(b):  # the per-restart record: one search per restart, curve of each
    config.search.restarts = 1
    runs = [search.search(g_vars, d_vars, y[i:i + 1], mask[i:i + 1], z0[i:i + 1, r:r + 1],
                          config.model, config.search).curve[0] for r in range(2)]
    curves.append(np.min(np.stack(runs), axis=0))  # best restart before each step
  config.search.restarts = 2
  expect = []
  for c in curves:
    ran, before = 40, c[0]
    for t in range(every, 40, every):
      if not c[t - 1] < before * (1 - tol):
        ran = t
        break
      before = c[t - 1]
    expect.append(ran)
  assert expect[0] == expect[2] == every and max(expect) > every  # both kinds present
  config.search.stop_every, config.search.stop_tolerance = every, tol
  calls = []
  stopped = search.search(g_vars, d_vars, y, mask, z0, config.model, config.search,
                          progress=calls.append)
  assert stopped.iterations.tolist() == expect
  assert full.iterations.tolist() == [40] * b
  assert sum(calls) == max(expect) == 40
  calls = []  # images 0 and 2 alone: every image stops at the first check
  early = search.search(g_vars, d_vars, y[::2], mask[::2], z0[::2], config.model, config.search,
                        progress=calls.append)
  assert early.iterations.tolist() == [every, every]
  assert calls[0] == every and sum(calls) == 40  # a progress bar still ends full
  config.search.stop_every = 0
  for i in range(b):
    config.search.iterations = expect[i]
    alone = search.search(g_vars, d_vars, y[i:i + 1], mask[i:i + 1], z0[i:i + 1], config.model,
                          config.search)
    np.testing.assert_allclose(stopped.z[i], alone.z[0], atol=1e-5)
    np.testing.assert_allclose(stopped.total_loss[i], alone.total_loss[0], rtol=1e-5, atol=1e-6)
    # A stopped image's recorded losses hold still after it stopped.
    np.testing.assert_allclose(stopped.curve[i, expect[i]:], stopped.curve[i, expect[i] - 1],
                               rtol=1e-6)


_TRACES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _, **kw: _TRACES.append(event)
    if event == "/jax/core/compile/jaxpr_trace_duration" else None)


def test_a_sweep_over_the_numeric_settings_compiles_once():
  # The whole method (search in chunks, tuning, blend) once with every setting, then with
  # each number changed: nothing is traced again, yet every change takes effect.
  from inpaint_jax.core import inpaint  # pylint: disable=import-outside-toplevel
  config, g_vars, d_vars = _setup(iterations=4, restarts=2, steps_per_call=2, tune_steps=2,
                                  fills=2, min_fill_difference=0.0)
  params = {"generator": g_vars, "discriminator": d_vars}
  rng = np.random.default_rng(3)
  images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  mask = masks.make_masks("center", 32, 0, range(2))
  run = lambda: inpaint.inpaint(images, mask, params, config, ids=[0, 1])
  first = run()
  traced = len(_TRACES)
  assert traced > 0  # the listener sees compilations
  for name, value in (("learning_rate", 0.07), ("prior_weight", 0.5),
                      ("tune_learning_rate", 3e-2), ("tune_feature_weight", 4.0),
                      ("min_fill_difference", 10.0)):
    before = run()
    config.search[name] = value
    after = run()
    assert len(_TRACES) == traced, f"changing search.{name} compiled again"
    changed = (after.fill_count != before.fill_count).any() if name == "min_fill_difference" \
        else np.abs(after.generated - before.generated).max() > 1e-6
    assert changed, f"search.{name} had no effect"
  assert not np.array_equal(run().blended, first.blended)
  config.search.lr_schedule = "cosine"  # a code path: compiled again, as it must be
  run()
  assert len(_TRACES) > traced
