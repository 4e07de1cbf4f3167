"""Every block, problem and learner round-trips through pickle and through a process pool
(issue 15: parallel sweeps need them in worker processes)."""
import concurrent.futures as cf
import pickle

import numpy as np
import pytest

import solvable as sv
from solvable.families.curie_weiss import CurieWeiss, Equilibrium, Glauber

P, C, L, Pe = sv.priors, sv.channels, sv.losses, sv.penalties
OBJECTS = [
    P.Gaussian(), P.Rademacher(), P.GaussBernoulli(rho=0.3), P.SparseRademacher(0.2),
    C.Sign(noise=0.1), C.Probit(), C.Linear(0.5), C.ReLU(0.1), C.Abs(0.1), C.Square(0.1),
    L.Square(), L.Logistic(), L.Hinge(), L.HardMargin(), L.Huber(0.5), L.Absolute(),
    Pe.L2(0.1), Pe.L1(0.1), Pe.ElasticNet(0.1, 0.5),
    *[sv.activations.get_activation(a) for a in sorted(sv.activations.ACTIVATIONS)],
    sv.data.Covariance(np.linspace(0.5, 1.5, 10)), sv.data.RandomFeatures("relu", 2.0), sv.data.PowerLaw(2.0, 0.3, n_modes=50),
    sv.GLM(P.Gaussian(), C.Sign(), alpha=np.array([1.0, 2.0])), sv.SpikedWigner(P.Rademacher(), snr=2.0),
    sv.SpikedWishart(P.Rademacher(), P.Gaussian(), snr=2.0, ratio=0.5), sv.Committee(k=2, activation="relu"),
    CurieWeiss(beta=1.5), sv.BayesOptimal(), sv.AMP(), sv.ERM("logistic", Pe.L2(0.1)), sv.Spectral(),
    sv.OnlineSGD(width=2, activation="tanh"), Equilibrium(), Glauber(),
]


def _echo(obj):
    return obj


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: type(o).__name__ + ":" + repr(o)[:30])
def test_pickle_round_trip(obj):
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_process_pool_round_trip():
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        back = list(pool.map(_echo, OBJECTS))
    assert all(a == b for a, b in zip(back, OBJECTS))
