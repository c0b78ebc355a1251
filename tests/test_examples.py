"""The examples run as the README shows them, and do what they say (the README's own code blocks:
test_readme.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str, timeout: int = 300) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=EXAMPLES, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_quickstart_runs():
    assert _run("quickstart.py")


def test_train_moons_loss_falls_and_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "moons.png"
    text = _run("train_moons.py", "--steps", "150", "--plot", str(plot))
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)", text).groups())
    accuracy = float(re.search(r"training accuracy ([0-9.]+)%", text).group(1))
    assert last < 0.2 * first and accuracy >= 95.0, text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_moons_with_sgd_and_no_plot():
    text = _run("train_moons.py", "--steps", "60", "--optimizer", "sgd", "--plot", "")
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)", text).groups())
    assert last < first



def test_curve_fit_recovers_the_parameters(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "fit.png"
    text = _run("curve_fit.py", "--plot", str(plot))
    found = dict(re.findall(r"'(\w)': ([0-9.]+)", text.splitlines()[0]))
    assert abs(float(found["a"]) - 2.5) < 0.1 and abs(float(found["b"]) - 1.3) < 0.1, text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_van_der_pol_is_solved_by_ipopt(tmp_path):
    pytest.importorskip("cyipopt")
    pytest.importorskip("matplotlib")
    plot = tmp_path / "vdp.png"
    text = _run("van_der_pol.py", "--N", "100", "--plot", str(plot))
    objective = float(re.search(r"objective ([0-9.]+) in (\d+) iterations", text).group(1))
    assert abs(objective - 3.6316002466) < 1e-8, text  # CasADi + IPOPT on the same problem: 3.6316002465527
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lotka_volterra_is_fitted_through_a_scan(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "lv.png"
    text = _run("lotka_volterra.py", "--quick", "--plot", str(plot))
    fitted = {name: (float(true), float(fit)) for name, true, fit in re.findall(r"^(\w+) +([0-9.]+) +([0-9.]+)$",
                                                                               text, re.MULTILINE)}
    assert set(fitted) == {"alpha", "beta", "delta", "gamma", "x0", "y0"}, text
    assert all(abs(fit - true) < 0.05 * true for true, fit in fitted.values()), text
    assert re.search(r"gradient at 1,000 parameter sets x 10,000 steps in one batch call", text), text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gaussian_process_fits_the_hyperparameters(tmp_path):
    """The optimum found with the compiled exact gradient against L-BFGS-B on a NumPy loss with
    finite-difference gradients (an independent oracle), on the example's data."""
    pytest.importorskip("matplotlib")
    import numpy as np
    from scipy.optimize import minimize
    plot = tmp_path / "gp.png"
    text = _run("gaussian_process.py", "--quick", "--plot", str(plot))
    found = float(re.search(r"-> ([0-9.-]+) in \d+ iterations", text).group(1))
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-5.0, 5.0, 60))
    y = np.sin(x) + 0.3 * rng.normal(size=60)

    def nlml(t):
        ell, sf, sn = np.exp(t)
        K = sf ** 2 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / ell ** 2) + sn ** 2 * np.eye(60)
        L = np.linalg.cholesky(K)
        return 0.5 * y @ np.linalg.solve(K, y) + np.sum(np.log(np.diag(L))) + 30 * np.log(2 * np.pi)
    reference = minimize(nlml, np.zeros(3), method="L-BFGS-B").fun
    assert abs(found - reference) < 1e-3, text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pendulum_on_a_cart_conserves_energy(tmp_path):
    """sympy.physics.mechanics' mass matrix and forcing through np.linalg.solve, compiled: the script
    checks its right-hand side against sympy.lambdify + np.linalg.solve, and the energy drift."""
    pytest.importorskip("matplotlib")
    plot = tmp_path / "pendulum.png"
    text = _run("pendulum_cart.py", "--links", "3", "--seconds", "5", "--plot", str(plot))
    assert "agrees with sympy.lambdify" in text, text
    drift = float(re.search(r"relative energy drift ([0-9.e+-]+)", text).group(1))
    assert drift < 1e-6, text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
