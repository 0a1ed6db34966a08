"""The deep-kernel GP of FSBO as a torch module: an MLP feature map and an exact GP on top.

Written out (about a hundred lines) rather than taken from GPyTorch: exact inference on a few
dozen points needs one Cholesky factorisation, and owning it keeps the dependency list short
and the state dict a plain set of tensors. Float64 throughout: the Cholesky factor of a
kernel matrix of learned features is the one place where float32 fails in practice.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  (torch's own idiom)

from metasearch.metamodel.surrogates._kernels import SQRT5, matern52

__all__ = ["DeepKernelGP", "inverse_softplus"]

JITTER = 1e-6
"""Added to the kernel diagonal on top of the learned noise."""

FLOOR = 1e-4
"""Lower bound of the lengthscale, output scale and noise (softplus + floor)."""


def inverse_softplus(value: float) -> float:
    """The raw parameter whose softplus (plus :data:`FLOOR`) is ``value``."""
    shifted = value - FLOOR
    return shifted + math.log(-math.expm1(-shifted))


class DeepKernelGP(nn.Module):
    """``f ~ GP(c, s * k(phi(x), phi(x') / l))`` with ``phi`` an MLP, plus Gaussian noise.

    Args:
        dim: input width (the encoding's length).
        hidden: widths of the hidden ReLU layers.
        features: width of ``phi(x)``.
        kernel: ``rbf`` or ``matern52`` on the features.
        mean: ``constant``, or ``linear`` (a constant plus a linear map of the features).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...], features: int, kernel: str,
                 mean: str = "constant") -> None:
        super().__init__()
        self.dim = dim
        widths = (dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], features))
        self.net = nn.Sequential(*layers)
        self.kernel = kernel
        self.raw_lengthscale = nn.Parameter(torch.tensor(inverse_softplus(1.0)))
        self.raw_outputscale = nn.Parameter(torch.tensor(inverse_softplus(0.1)))
        self.raw_noise = nn.Parameter(torch.tensor(inverse_softplus(0.01)))
        self.mean_constant = nn.Parameter(torch.tensor(0.5))
        self.mean_head = nn.Linear(features, 1, bias=False) if mean == "linear" else None

    @property
    def last_layer(self) -> nn.Linear:
        layer = self.net[-1]
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"the feature map ends in {layer!r}, not a linear layer")
        return layer

    def hyper_parameters(self) -> list[nn.Parameter]:
        """The GP's own parameters (what adaptation always fine-tunes)."""
        return [self.raw_lengthscale, self.raw_outputscale, self.raw_noise, self.mean_constant]

    def scales(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Lengthscale, output scale (signal variance) and noise variance."""
        return (F.softplus(self.raw_lengthscale) + FLOOR, F.softplus(self.raw_outputscale) + FLOOR,
                F.softplus(self.raw_noise) + FLOOR)

    def prior_mean(self, phi: torch.Tensor) -> torch.Tensor:
        """The prior mean at feature rows ``phi``."""
        if self.mean_head is None:
            return self.mean_constant.expand(len(phi))
        return self.mean_constant + self.mean_head(phi).squeeze(-1)

    def covariance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Signal covariance between feature rows ``a`` and ``b``."""
        lengthscale, outputscale, _ = self.scales()
        a, b = a / lengthscale, b / lengthscale
        # The expanded square, not cdist: cdist's gradient is NaN at zero distance.
        d2 = ((a * a).sum(-1, keepdim=True) + (b * b).sum(-1) - 2.0 * a @ b.T).clamp_min(0.0)
        if self.kernel == "rbf":
            return outputscale * torch.exp(-0.5 * d2)
        return outputscale * matern52(SQRT5 * torch.sqrt(d2 + 1e-12), torch.exp)

    def _cholesky(self, phi: torch.Tensor) -> torch.Tensor:
        _, _, noise = self.scales()
        k = self.covariance(phi, phi)
        eye = torch.eye(len(phi), dtype=phi.dtype, device=phi.device)
        return torch.linalg.cholesky(k + (noise + JITTER) * eye)

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative log marginal likelihood of ``(x, y)`` per point (what training minimises)."""
        phi = self.net(x)
        chol = self._cholesky(phi)
        centred = (y - self.prior_mean(phi)).unsqueeze(-1)
        alpha = torch.cholesky_solve(centred, chol)
        fit = 0.5 * (centred * alpha).sum()
        return (fit + torch.log(torch.diagonal(chol)).sum()) / len(y) + 0.5 * math.log(2 * math.pi)

    def condition(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Support features, Cholesky factor and weights for :meth:`predict` (``len(y) >= 1``)."""
        phi = self.net(x)
        chol = self._cholesky(phi)
        alpha = torch.cholesky_solve((y - self.prior_mean(phi)).unsqueeze(-1), chol)
        return phi, chol, alpha

    def predict(self, xq: torch.Tensor, state: tuple[torch.Tensor, ...] | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and std of ``f`` at ``xq`` given :meth:`condition`'s state (or prior)."""
        _, outputscale, _ = self.scales()
        query = self.net(xq)
        if state is None:
            return self.prior_mean(query), torch.sqrt(outputscale).expand(len(xq))
        phi, chol, alpha = state
        cross = self.covariance(query, phi)
        mean = self.prior_mean(query) + (cross @ alpha).squeeze(-1)
        v = torch.linalg.solve_triangular(chol, cross.T, upper=False)
        var = torch.clamp(outputscale - (v * v).sum(0), min=1e-12)
        return mean, torch.sqrt(var)
