import jax.numpy as jnp
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from inpaint_jax.core import blend


def _direct_solve(y, g, m):
  """Eq. 4 assembled as an explicit sparse system per channel and solved with spsolve."""
  h, w, c = y.shape
  unknown = np.argwhere(m == 0)
  index = -np.ones((h, w), int)
  for k, (i, j) in enumerate(unknown):
    index[i, j] = k
  out = y.astype(np.float64).copy()
  if len(unknown) == 0:
    return out
  rows, cols, vals = [], [], []
  rhs = np.zeros((len(unknown), c))
  for k, (i, j) in enumerate(unknown):
    nbrs = [(i + di, j + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= i + di < h and 0 <= j + dj < w]  # Neumann: outside neighbours drop out
    rows.append(k); cols.append(k); vals.append(len(nbrs))
    for a, b in nbrs:
      rhs[k] += g[i, j] - g[a, b]
      if m[a, b] == 0:
        rows.append(k); cols.append(index[a, b]); vals.append(-1.0)
      else:
        rhs[k] += y[a, b]
  mat = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(unknown),) * 2)
  for ch in range(c):
    out[unknown[:, 0], unknown[:, 1], ch] = scipy.sparse.linalg.spsolve(mat, rhs[:, ch])
  return out


def _cases(n, size=16, seed=0):
  rng = np.random.default_rng(seed)
  y = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
  g = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
  m = np.ones((n, size, size), np.float32)
  for k in range(n):
    kind = k % 3
    if kind == 0:  # a block touching the border
      a, b = rng.integers(0, size // 2, 2)
      m[k, a:a + size // 2 + 2, b:] = 0
    elif kind == 1:  # scattered pixels
      m[k] = rng.random((size, size)) > 0.6
    else:  # a central block
      m[k, 4:12, 3:13] = 0
  return y, g, m


def test_blend_matches_a_direct_sparse_solve():
  y, g, m = _cases(6)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m)))
  for k in range(len(y)):
    ref = _direct_solve(y[k], g[k], m[k])
    assert np.abs(out[k] - ref).max() < 1e-4, k


def test_known_pixels_are_exact_and_identity_cases():
  y, g, m = _cases(3, seed=1)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m)))
  known = np.broadcast_to(m[..., None] > 0, y.shape)
  assert np.array_equal(out[known], y[known])  # bit for bit
  same = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(y), jnp.asarray(m)))
  np.testing.assert_allclose(same, y, atol=1e-5)
  empty = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.ones_like(jnp.asarray(m))))
  assert np.array_equal(empty, y)


def test_blend_removes_a_constant_offset():
  # G(ẑ) right up to a brightness shift: blending restores y exactly (gradients match).
  y, _, m = _cases(3, seed=2)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(y + 0.3), jnp.asarray(m)))
  np.testing.assert_allclose(out, y, atol=1e-4)


def test_all_missing_returns_the_generated_image():
  y, g, _ = _cases(1, seed=3)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.zeros((1, 16, 16))))
  np.testing.assert_allclose(out, g, atol=1e-6)


def _laplacian_matrix(h, w):
  """The Neumann 5-point Laplacian of an [h, w] grid as a dense matrix (pixel-major)."""
  lap = np.zeros((h * w, h * w))
  for i in range(h):
    for j in range(w):
      for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
        if 0 <= a < h and 0 <= b < w:
          lap[i * w + j, i * w + j] += 1
          lap[i * w + j, a * w + b] -= 1
  return lap


def test_biharmonic_fill_matches_a_dense_solve():
  y, _, m = _cases(3, size=10, seed=4)
  lap = _laplacian_matrix(10, 10)
  bilap = lap @ lap
  for k in range(3):
    hole = m[k].ravel() == 0
    out = np.asarray(blend.biharmonic_channel(jnp.asarray(y[k, ..., 0]), jnp.asarray(m[k]),
                                              tol=1e-8, maxiter=5000))
    ref = y[k, ..., 0].astype(np.float64).ravel().copy()
    # Δ²x = 0 on the hole rows, x = y elsewhere.
    ref[hole] = np.linalg.solve(bilap[np.ix_(hole, hole)], -bilap[np.ix_(hole, ~hole)] @ ref[~hole])
    assert np.abs(out.ravel() - ref).max() < 1e-3, k


def test_generator_weight_by_hand():
  m = np.ones((5, 5), np.float32)
  m[0, 0] = 0  # the top-left 3x3 window (clipped to 2x2) holds 1 missing of 4
  w = np.asarray(blend.generator_weight(jnp.asarray(m), 3, 0.0, 0.5))
  assert w[0, 0] == 0.5 and w[1, 1] == np.float32(1 / 9 / 0.5) and w[4, 4] == 0
  np.testing.assert_array_equal(blend.generator_weight(jnp.zeros((5, 5)), 3, 0.2, 0.8), 1.0)
  # The thick part: a 3x3 hole and a lone missing pixel; with thick=3 the square is all G's
  # (it is its own opening) with its rim, the lone pixel only its density weight.
  m = np.ones((9, 9), np.float32)
  m[1:4, 1:4] = 0
  m[7, 7] = 0
  dense = np.asarray(blend.generator_weight(jnp.asarray(m), 3, 0.0, 1.0))
  w = np.asarray(blend.generator_weight(jnp.asarray(m), 3, 0.0, 1.0, thick=3))
  assert (w[:5, :5] == 1).all()  # the square and its rim
  assert w[7, 7] == dense[7, 7] == np.float32(1 / 9)
  np.testing.assert_array_equal(w[5:, 5:], dense[5:, 5:])


def _direct_mixed_solve(y, g, s, wt, m):
  """The mixed-guidance system assembled pixel by pixel, edge weights (w_i + w_j) / 2."""
  h, w = m.shape
  lap = _laplacian_matrix(h, w)
  hole = m.ravel() == 0
  out = y.astype(np.float64).copy()
  for ch in range(y.shape[-1]):
    guide = np.zeros(h * w)
    for i in range(h):
      for j in range(w):
        for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
          if 0 <= a < h and 0 <= b < w:
            e = 0.5 * (wt[i, j] + wt[a, b])
            guide[i * w + j] += (e * (g[i, j, ch] - g[a, b, ch])
                                 + (1 - e) * (s[i, j, ch] - s[a, b, ch]))
    x = y[..., ch].astype(np.float64).ravel()
    x[hole] = np.linalg.solve(lap[np.ix_(hole, hole)],
                              guide[hole] - lap[np.ix_(hole, ~hole)] @ x[~hole])
    out[..., ch] = x.reshape(h, w)
  return out


def test_mixed_blend_matches_a_dense_solve_and_its_limits():
  y, g, m = _cases(3, size=12, seed=5)
  window, low, high = 3, 0.3, 0.8
  out = np.asarray(blend.mixed_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m), window,
                                     low, high, 3, tol=1e-8, smooth_maxiter=5000))
  for k in range(3):
    wt = np.asarray(blend.generator_weight(jnp.asarray(m[k]), window, low, high, 3))
    s = np.stack([np.asarray(blend.biharmonic_channel(jnp.asarray(y[k, ..., c]),
                                                      jnp.asarray(m[k]), 1e-5, 5000))
                  for c in range(3)], -1)
    assert np.abs(out[k] - _direct_mixed_solve(y[k], g[k], s, wt, m[k])).max() < 1e-3, k
    known = np.broadcast_to(m[k][..., None] > 0, y[k].shape)
    assert np.array_equal(out[k][known], y[k][known])
  # G everywhere (low = high = 0): the plain blend; G nowhere: the biharmonic fill.
  plain = blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m), 1e-8)
  all_g = blend.mixed_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m), 3, -1.0, 0.0, tol=1e-8)
  np.testing.assert_allclose(all_g, plain, atol=1e-4)
  no_g = blend.mixed_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m), 3, 1.0, 2.0, tol=1e-8,
                           smooth_maxiter=5000)
  smooth = np.stack([np.asarray(blend.biharmonic_channel(jnp.asarray(y[0, ..., c]),
                                                         jnp.asarray(m[0]), 1e-5, 5000))
                     for c in range(3)], -1)
  np.testing.assert_allclose(np.asarray(no_g)[0], smooth, atol=1e-3)


def test_a_hole_of_thick_parts_only_is_blended_by_eq4_to_the_bit():
  y, g, _ = _cases(2, size=16, seed=6)
  m = np.ones((2, 16, 16), np.float32)
  m[0, 3:11, 4:12] = 0  # a box
  m[1, :, 8:] = 0  # a half, along the border
  args = (jnp.asarray(y), jnp.asarray(g), jnp.asarray(m))
  np.testing.assert_array_equal(blend.mixed_blend(*args, 5, 0.6, 1.0, 7),
                                blend.poisson_blend(*args))
