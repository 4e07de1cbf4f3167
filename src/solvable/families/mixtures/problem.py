"""The Gaussian-mixture classification problem: n = alpha d samples of a
:class:`~solvable.data.Mixture`, labelled by their cluster (binary: the cluster's +-1 label,
flipped with probability ``flip``) or at random."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solvable.blocks.data.mixture import Mixture
from solvable.core.contract import Problem
from solvable.core.validate import as_param, check_interval, check_positive

__all__ = ["GaussianMixture", "label_table"]


@dataclass(frozen=True, eq=False)
class GaussianMixture(Problem):
    """Classification of a Gaussian mixture: ``x`` from the cluster ``k ~ weights`` of ``data``
    (a :class:`solvable.data.Mixture`), label ``y`` = the +-1 label of cluster ``k``
    (``labels="cluster"``, each label flipped with probability ``flip``; ``labels="teacher"``:
    ``y = f0(theta . x / sqrt d)`` from a single-index teacher, see :meth:`_check_teacher`; a mixture without +-1
    labels, or a K-class loss such as ``"cross_entropy"``: multi-class classification, the label
    is the cluster index, docs/mixtures.md) or a fair coin
    independent of ``x`` (``labels="random"``: the random-label / memorisation problem of Gerace,
    Krzakala, Loureiro, Stephan, Zdeborova 2022); ``n = alpha d`` samples.

    ``alpha`` may be a 1D array (a curve).
    """

    data: Any
    alpha: Any = 1.0
    labels: str = "cluster"
    flip: float = 0.0
    teacher: Any = None
    teacher_norm: Any = None
    channel: Any = None
    spikes: Any = None

    curve_params = ("alpha",)

    def __post_init__(self):
        if not isinstance(self.data, Mixture):
            raise ValueError(f"GaussianMixture: data must be a solvable.data.Mixture, got data={self.data!r}")
        check_positive("alpha", self.alpha, owner="GaussianMixture")
        object.__setattr__(self, "alpha", as_param(self.alpha, "alpha", "GaussianMixture"))
        if self.labels not in ("cluster", "random", "teacher"):
            raise ValueError(f"GaussianMixture: labels must be 'cluster', 'random' or 'teacher', got labels={self.labels!r}")
        if self.labels == "teacher":
            self._check_teacher()
        elif self.teacher is not None or self.channel is not None or self.spikes is not None:
            raise ValueError(f"GaussianMixture: teacher, channel and spikes are for labels='teacher', got "
                             f"labels={self.labels!r}")
        check_interval("flip", self.flip, 0.0, 0.5, owner="GaussianMixture")
        object.__setattr__(self, "flip", float(self.flip))
        if self.labels == "random" and self.flip != 0.0:
            raise ValueError(f"GaussianMixture: random labels take no flip, got flip={self.flip!r}")
        if self.labels == "cluster" and not self.data.is_binary:
            # multi-class classification: the label is the cluster index
            if self.data.K < 2:
                raise ValueError(f"GaussianMixture: one cluster (K = {self.data.K}) and no +-1 label: there is nothing "
                                 f"to classify; give labels='random' or a mixture of K >= 2 clusters")
            if self.flip != 0.0:
                raise ValueError(f"GaussianMixture: label noise (flip) is for +-1 labels; the multi-class problem "
                                 f"(K = {self.data.K}, labels = the cluster index) takes flip=0, got flip={self.flip!r}")

    def _check_teacher(self):
        """A single-index teacher ``y = f0(theta . x / sqrt d)`` on the mixture (Pesce, Krzakala,
        Loureiro, Stephan 2023).

        * Scalar covariances (``s_k I``, plus optional finite-rank ``spikes`` in the means' span):
          ``teacher`` is the teacher's component in the span of the means, in the means'
          coordinates (length p; the teacher's mean in cluster k is ``mu_k . teacher``),
          ``teacher_norm`` is ``|theta|^2 / d`` (default 1; its bulk part is
          ``teacher_norm - |teacher|^2``, an isotropic direction orthogonal to the means).
        * Diagonal (a (K, p) spectrum) or full (K, p, p) covariances: ``teacher`` is
          ``theta / sqrt(d)`` in the same p coordinates as the means (dense profiles for a
          spectrum), the whole teacher; ``teacher_norm`` is then ``|teacher|^2`` (give None).

        ``channel``: a classification channel (:class:`~solvable.blocks.channels.Sign`,
        ``Probit``; default noiseless Sign) or a regression one with additive noise
        (``Linear``, ``ReLU``, ``Abs``, ``Square``): ``y = phi(nu) + sqrt(noise) xi``."""
        import numpy as np

        from solvable.blocks.channels import Sign, _AdditiveNoise

        mix = self.data
        if self.flip != 0.0:
            raise ValueError(f"GaussianMixture: with a teacher, label noise is the channel's (Sign(noise, flip)); got "
                             f"flip={self.flip!r}")
        a = np.zeros(mix.means.shape[1]) if self.teacher is None else np.atleast_1d(np.asarray(self.teacher, float))
        if a.shape != (mix.means.shape[1],) or not np.all(np.isfinite(a)):
            raise ValueError(f"GaussianMixture: teacher must be a finite vector of the means' dimension "
                             f"{mix.means.shape[1]}, got teacher={self.teacher!r}")
        a.setflags(write=False)
        object.__setattr__(self, "teacher", a)
        if mix.kind == "scalar":
            T = 1.0 if self.teacher_norm is None else float(self.teacher_norm)
            if not (np.isfinite(T) and T > 0 and T >= a @ a):
                raise ValueError(f"GaussianMixture: teacher_norm = |theta|^2/d must be finite, > 0 and >= |teacher|^2 = "
                                 f"{a @ a:.6g}, got teacher_norm={self.teacher_norm!r}")
        else:
            T = float(a @ a)
            if T <= 0:
                raise ValueError(f"GaussianMixture: with {mix.kind} covariances the teacher is the vector theta / sqrt(d) "
                                 f"in the means' p = {mix.p} coordinates; got a zero teacher={self.teacher!r}")
            if self.teacher_norm is not None and not np.isclose(float(self.teacher_norm), T, rtol=1e-9, atol=0.0):
                raise ValueError(f"GaussianMixture: with {mix.kind} covariances teacher_norm is |teacher|^2 = {T:.6g} (the "
                                 f"teacher has no bulk part; give teacher_norm=None), got teacher_norm={self.teacher_norm!r}")
            if self.spikes is not None:
                raise ValueError(f"GaussianMixture: spikes are the finite-rank parts of scalar covariances; with {mix.kind} "
                                 f"covariances put them in the covariances themselves")
        object.__setattr__(self, "teacher_norm", T)
        ch = Sign() if self.channel is None else self.channel
        if not isinstance(ch, (Sign, _AdditiveNoise)):
            raise ValueError(f"GaussianMixture: the teacher's channel must be a Sign / Probit channel (binary labels) or "
                             f"an additive-noise regression channel (Linear, ReLU, Abs, Square), got channel={self.channel!r}")
        object.__setattr__(self, "channel", ch)
        if self.spikes is not None:
            K, p = mix.K, mix.means.shape[1]
            P = np.asarray(self.spikes, float)
            if P.shape != (K, p, p) or not np.all(np.isfinite(P)) or not np.allclose(P, np.swapaxes(P, 1, 2)):
                raise ValueError(f"GaussianMixture: spikes must be K = {K} finite symmetric (p, p) = ({p}, {p}) "
                                 f"matrices, got shape {np.shape(self.spikes)}")
            ev = np.linalg.eigvalsh(P)
            if np.any(ev < -1e-12 * max(1.0, np.abs(ev).max())):
                k = int(np.argmin(ev.min(axis=1)))
                raise ValueError(f"GaussianMixture: spike {k} is not positive semi-definite (eigenvalue "
                                 f"{ev[k].min():.3g})")
            P = 0.5 * (P + np.swapaxes(P, 1, 2))
            P.setflags(write=False)
            object.__setattr__(self, "spikes", P)

    @property
    def spike_matrices(self):
        """The finite-rank parts of the cluster covariances (teacher labels): ``Sigma_k = s_k I + P_k``
        with ``P_k`` acting in the span of the means' coordinates; zeros without ``spikes``."""
        import numpy as np

        p = self.data.means.shape[1]
        return np.zeros((self.data.K, p, p)) if self.spikes is None else self.spikes

    @property
    def is_regression(self) -> bool:
        """Whether the labels are real numbers (a teacher with a regression channel)."""
        return self.labels == "teacher" and not self.channel.is_classification

    @property
    def teacher_variances(self):
        """The teacher field's variance in each cluster: ``s_k T + a^T P_k a`` (scalar covariances),
        ``sum_i S_ki a_i^2`` (a spectrum), ``a^T Sigma_k a`` (matrices)."""
        import numpy as np

        mix, a = self.data, self.teacher
        if mix.kind == "diagonal":
            return mix.covariances @ (a * a)
        if mix.kind == "full":
            return np.einsum("i,kij,j->k", a, mix.covariances, a)
        return mix.covariances * self.teacher_norm + np.einsum("i,kij,j->k", a, self.spike_matrices, a)

    @property
    def teacher_means(self):
        """The teacher field's mean in each cluster, ``t_k = mu_k . teacher``."""
        return self.data.means @ self.teacher

    @property
    def label_table(self):
        """``P(y | cluster)`` as a (K, 2) array over ``y = (+1, -1)``."""
        if self.labels == "teacher":
            raise ValueError("GaussianMixture: with a teacher the label depends on x, not only on the cluster")
        return label_table(self.data, self.labels, self.flip)


def label_table(data: Mixture, labels: str = "cluster", flip: float = 0.0):
    """``P(y | cluster)`` as a (K, 2) array over ``y = (+1, -1)``: fair coins for random labels,
    else each cluster's label kept with probability ``1 - flip``."""
    import numpy as np

    if labels == "random":
        return np.full((data.K, 2), 0.5)
    if not data.is_binary:
        raise ValueError(f"the mixture's clusters carry no +-1 labels (K = {data.K})")
    plus = (data.labels > 0).astype(float)
    return np.stack([plus * (1 - flip) + (1 - plus) * flip, (1 - plus) * (1 - flip) + plus * flip], axis=1)
