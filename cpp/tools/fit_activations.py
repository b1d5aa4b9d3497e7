"""Fits the coefficients of cpp/include/nanomlp/activation_rules.inc (run: python3 this file).

Each approximation is a minimax fit (Lawson's iteratively reweighted least squares, the
rational ones linearised around the previous denominator) in float64, printed rounded to
float32. The printed numbers are pasted into activation_rules.inc and
python/nanomlp/_activations.py; the accuracy of the float32 evaluation is what the tests
measure, not the fit's.
"""

from __future__ import annotations

import math

import numpy as np


def lawson(u, f, n, m, weight, fixed_p0=None, iters=100):
    """P(u)/Q(u) with Q(0) = 1 (and P(0) = fixed_p0 if given) minimising max |P/Q − f|·weight."""
    scale = u.max()
    t = u / scale
    first = 0 if fixed_p0 is None else 1
    q_prev = np.ones_like(u)
    w = np.full_like(u, 1.0 / len(u))
    best = None
    for _ in range(iters):
        cols = [t**j for j in range(first, n + 1)] + [-f * t**j for j in range(1, m + 1)]
        a = np.stack(cols, 1) * (weight / q_prev)[:, None]
        b = (f - (fixed_p0 or 0.0)) * weight / q_prev
        sol = np.linalg.lstsq(a * np.sqrt(w)[:, None], b * np.sqrt(w), rcond=None)[0]
        p = np.concatenate([[fixed_p0] if first else [], sol[: n + 1 - first]])
        q = np.concatenate([[1.0], sol[n + 1 - first :]])
        p = p / scale ** np.arange(n + 1)
        q = q / scale ** np.arange(m + 1)
        big_p, big_q = np.polyval(p[::-1], u), np.polyval(q[::-1], u)
        err = (big_p / big_q - f) * weight
        if best is None or np.abs(err).max() < best[0]:
            best = (np.abs(err).max(), p, q)
        q_prev = big_q
        w = w * np.abs(err) + 1e-300
        w /= w.sum()
    return best


def show(name: str, coefs: np.ndarray) -> None:
    print(name, ", ".join(f"{float(np.float32(c)):.9g}f" for c in coefs))


def phi_upper(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def main() -> None:
    # exp(r) = 1 + r + r²·P(r) on |r| ≤ ln2/2 (a little wider: n is rounded in float32).
    r = np.linspace(-0.35, 0.35, 20001)
    r = r[r != 0]
    f = (np.expm1(r) - r) / r**2
    err, p, _ = lawson(r + 0.35, f, 4, 0, r**2 / np.exp(r))
    # Back from the shifted variable r + 0.35 to r.
    p = np.polynomial.polynomial.Polynomial(p)(np.polynomial.polynomial.Polynomial([0.35, 1])).coef
    print(f"exp: relative error of the fit {err:.2e}")
    show("  P", p)

    # tanh(x) = x·P(x²)/Q(x²), P(0) = Q(0) = 1 (exactly x for tiny x), relative error.
    x = np.linspace(1e-4, 9.0, 20000)
    err, p, q = lawson(x * x, np.tanh(x) / x, 4, 4, x / np.tanh(x), fixed_p0=1.0)
    print(f"tanh: relative error of the fit {err:.2e}")
    show("  P", p)
    show("  Q", q)

    # GELU: Φ(x) = σ(x·H(x²)), H(s) = logit(Φ(√s))/√s on s ≤ 36, relative error; and
    # D(s) = d/dx (x·H(x²)) = φ(x)/(Φ(x)·Φ(−x)) for the derivative.
    s = np.linspace(0.0, 36.0, 20001)
    xs = np.sqrt(s)
    logit = np.array([math.log(phi_upper(-v)) - math.log(phi_upper(v)) for v in xs])
    h = np.where(xs > 0, logit / np.where(xs > 0, xs, 1), 4 / math.sqrt(2 * math.pi))
    err, p, q = lawson(s, h, 4, 4, 1 / h)
    print(f"gelu H: relative error of the fit {err:.2e}")
    show("  P", p)
    show("  Q", q)
    d = np.array(
        [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) / (phi_upper(v) * phi_upper(-v)) for v in xs]
    )
    err, p, q = lawson(s, d, 3, 4, 1 / d)
    print(f"gelu D: relative error of the fit {err:.2e}")
    show("  P", p)
    show("  Q", q)


if __name__ == "__main__":
    main()
