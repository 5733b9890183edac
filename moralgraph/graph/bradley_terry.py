"""Bradley–Terry strengths from weighted pairwise wins, many data sets at once.

The model: value i beats value j with probability 1 / (1 + exp(-(s_i - s_j))). The fit is
the maximum a posteriori estimate under a Gaussian prior on each strength, i.e. it
minimises

    sum over pairs k of  w_ik * log(1 + exp(-(s_i - s_j))) + w_jk * log(1 + exp(s_i - s_j))
    + prior * sum over values of s_v ** 2

which is exactly the objective of ``choix.opt_pairwise(n, data, alpha=prior)`` (the tests
check the two agree). We do not call choix here: the bootstrap needs a few hundred fits of
the same context with fractional per-pair weights, and choix fits one unweighted data set
per call with a Python loop over every comparison (about 0.1 s per context of a few
thousand judgments, times 200 resamples). Stacking the replicates as rows of one array
lets a Newton step cost a handful of numpy operations for all of them together.

Newton's method with a backtracking line search: the objective is strictly convex (the
prior's term), so each step that lowers it converges, and warm-started from the full fit a
replicate needs three or four steps. The Newton system is solved densely (batched
``numpy.linalg.solve``) for contexts of up to ``DENSE_MAX`` values and by a batched,
matrix-free conjugate gradient with a Jacobi preconditioner above that, where one dense
Hessian per replicate would not fit in memory.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import expit

# Above this many values in a context, Newton systems are solved by conjugate gradients.
DENSE_MAX = 64
_TOL = 1e-9
_MAX_NEWTON = 100
_MAX_HALVINGS = 30


def fit_strengths(
    n_values: int,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    wins_i: np.ndarray,
    wins_j: np.ndarray,
    *,
    prior: float,
    init: np.ndarray | None = None,
    solver: str = "auto",
) -> np.ndarray:
    """Return MAP strengths, shape (replicates, n_values), one row per data set.

    ``pair_i`` / ``pair_j`` (shape (pairs,)) name each compared pair's two values, each
    unordered pair once; ``wins_i`` / ``wins_j`` (shape (pairs,) or (replicates, pairs))
    are the (weighted) wins of ``pair_i`` over ``pair_j`` and back. ``init`` (shape
    (n_values,) or (replicates, n_values)) warm-starts every row. ``solver`` is "dense",
    "cg" or "auto" (dense up to DENSE_MAX values).
    """
    if prior <= 0:
        raise ValueError("prior must be positive: it is what makes the fit unique")
    wins_i = np.atleast_2d(np.asarray(wins_i, dtype=float))
    wins_j = np.atleast_2d(np.asarray(wins_j, dtype=float))
    pair_i = np.asarray(pair_i, dtype=np.intp)
    pair_j = np.asarray(pair_j, dtype=np.intp)
    replicates = wins_i.shape[0]
    theta = np.zeros((replicates, n_values))
    if init is not None:
        theta += np.asarray(init, dtype=float)
    if n_values == 0 or len(pair_i) == 0:
        return np.zeros((replicates, n_values))
    if solver == "auto":
        solver = "dense" if n_values <= DENSE_MAX else "cg"
    if solver not in ("dense", "cg"):
        raise ValueError(f"solver must be 'auto', 'dense' or 'cg', not {solver!r}")
    # Inside, one column per replicate: gathers and sparse products then read whole rows.
    problem = _Problem(n_values, pair_i, pair_j, wins_i.T.copy(), wins_j.T.copy(), prior)
    theta = theta.T.copy()
    # Replicates converge at their own pace: keep stepping only those still moving.
    active = np.arange(replicates)
    value = problem.objective(theta, active)
    for _ in range(_MAX_NEWTON):
        current = theta[:, active]
        gradient, curvature = problem.derivatives(current, active)
        if solver == "dense":
            step = problem.solve_dense(gradient, curvature)
        else:
            step = problem.solve_cg(gradient, curvature)
        theta[:, active], value, moved = problem.line_search(current, value, step, active)
        still = moved >= _TOL
        active, value = active[still], value[still]
        if not active.size:
            break
    return theta.T.copy()


class _Problem:
    """The objective, its derivatives and the Newton solve for many replicates at once.

    Arrays are (values, replicates) and (pairs, replicates); ``cols`` picks replicates.
    """

    def __init__(self, n_values, pair_i, pair_j, wins_i, wins_j, prior):
        self.n = n_values
        self.i = pair_i
        self.j = pair_j
        self.wins_i = wins_i
        self.wins_j = wins_j
        self.total = wins_i + wins_j
        self.prior = prior
        pairs = len(pair_i)
        rows = np.concatenate([np.arange(pairs), np.arange(pairs)])
        cols = np.concatenate([pair_i, pair_j])
        signs = np.concatenate([np.ones(pairs), -np.ones(pairs)])
        # The incidence matrix (value by pair, +1 at i, -1 at j) and its absolute value turn
        # per-pair figures into per-value sums without a Python loop.
        self.incidence = sparse.csr_matrix((signs, (cols, rows)), shape=(n_values, pairs))
        self.touching = abs(self.incidence)

    def _pick(self, array: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return array if len(cols) == array.shape[1] else array[:, cols]

    def objective(self, theta: np.ndarray, cols: np.ndarray) -> np.ndarray:
        diff = theta[self.i] - theta[self.j]
        # log(1 + e^d) = d + log(1 + e^-d): one transcendental per pair, not two.
        loss = self._pick(self.total, cols) * np.logaddexp(0.0, -diff)
        loss += self._pick(self.wins_j, cols) * diff
        return loss.sum(axis=0) + self.prior * (theta**2).sum(axis=0)

    def derivatives(self, theta: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = self._pick(self.total, cols)
        p = expit(theta[self.i] - theta[self.j])
        gradient = self.incidence @ (total * p - self._pick(self.wins_i, cols))
        gradient += 2 * self.prior * theta
        return gradient, total * p * (1 - p)

    def solve_dense(self, gradient: np.ndarray, curvature: np.ndarray) -> np.ndarray:
        replicates = gradient.shape[1]
        hessian = np.zeros((replicates, self.n, self.n))
        diagonal = self.touching @ curvature + 2 * self.prior
        index = np.arange(self.n)
        hessian[:, index, index] = diagonal.T
        # Each unordered pair appears once, so these assignments never collide.
        hessian[:, self.i, self.j] = -curvature.T
        hessian[:, self.j, self.i] = -curvature.T
        return np.linalg.solve(hessian, gradient.T[..., None])[..., 0].T

    def solve_cg(self, gradient: np.ndarray, curvature: np.ndarray) -> np.ndarray:
        diagonal = self.touching @ curvature + 2 * self.prior

        def times_hessian(v: np.ndarray) -> np.ndarray:
            return self.incidence @ (curvature * (v[self.i] - v[self.j])) + 2 * self.prior * v

        x = np.zeros_like(gradient)
        residual = gradient.copy()
        z = residual / diagonal
        direction = z.copy()
        rz = (residual * z).sum(axis=0)
        # Inexact Newton: far from the optimum a rough direction will do, so each column's
        # solve stops at a residual that shrinks with its gradient (superlinear overall).
        size = np.abs(gradient).max(axis=0)
        target = np.minimum(0.1, np.sqrt(size)) * size
        for _ in range(10 * self.n):
            open_cols = np.abs(residual).max(axis=0) > target
            if not open_cols.any():
                break
            product = times_hessian(direction)
            curve = (direction * product).sum(axis=0)
            alpha = np.divide(rz, curve, out=np.zeros_like(rz), where=open_cols & (curve > 0))
            x += alpha * direction
            residual -= alpha * product
            z = residual / diagonal
            rz_next = (residual * z).sum(axis=0)
            beta = np.divide(rz_next, rz, out=np.zeros_like(rz), where=rz > 0)
            direction = z + beta * direction
            rz = rz_next
        return x

    def line_search(self, theta, value, step, cols):
        """Take the Newton step, halved per replicate until the objective does not rise.

        Returns the new strengths, their objective and how far each replicate moved."""
        size = np.ones(theta.shape[1])
        candidate = theta - step
        candidate_value = self.objective(candidate, cols)
        for _ in range(_MAX_HALVINGS):
            worse = candidate_value > value + 1e-12 * np.abs(value)
            if not worse.any():
                break
            size[worse] /= 2
            candidate[:, worse] = theta[:, worse] - size[worse] * step[:, worse]
            candidate_value[worse] = self.objective(candidate[:, worse], cols[worse])
        else:
            # No decrease even for a tiny step: those replicates are at the optimum already.
            candidate[:, worse] = theta[:, worse]
            candidate_value[worse] = value[worse]
        moved = np.abs(candidate - theta).max(axis=0)
        return candidate, candidate_value, moved
