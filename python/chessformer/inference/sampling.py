"""Masked, tempered sampling of the next token for each row of a batch of logits.

Temperature 0 is exact argmax; otherwise Gumbel-max: ``argmax(logit + tau * gumbel)``. The noise
comes from the sampler's seeded generator (reproducible for a given sequence of calls) or, with
per-row keys, from the counter-based hash of ``noise`` (each game's draws independent of the rest
of the batch). On the CPU, with the allowed ids known and no top-k/top-p, the work is done in
numpy over the allowed entries only (``_sample_host``), with exactly the general path's noise,
scores and tie-breaking. On CUDA with the Triton backend the unseeded draw is a Triton kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate, chain

import numpy as np
import torch

from chessformer.inference.device import kernels, to_device
from chessformer.inference.noise import seeded_uniform, seeded_uniform_rows

# per-row seed words (low, high; see noise.game_key) and the draw number within the call
Keys = tuple[list[int], list[int], int]


class Sampler:
    """Draws one id per row of a logits batch; owns the unseeded generator."""

    def __init__(self, device: torch.device, *, triton: bool, seed: int = 0) -> None:
        self.device = device
        self.triton = triton  # the unseeded draw runs the Triton kernel
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def sample(
        self,
        logits: torch.Tensor,
        legal: Sequence[Sequence[int]] | None,
        temps: Sequence[float],
        top_k: int | None,
        top_p: float | None,
        keys: Keys | None = None,
    ) -> tuple[list[int], list[float]]:
        """Ids and their probabilities under the sampling distribution (1.0 at tau = 0).

        ``legal[r]``: the ids row r may take (None: all). ``keys``: per-row seed words and the
        draw number for seeded noise (``noise.seeded_uniform``, evaluated on the host at the
        allowed entries only); None uses the generator. The one device-to-host sync is the final
        copy of the ids and probabilities.
        """
        n, V = logits.shape
        dev = logits.device
        if (
            dev.type == "cpu"
            and legal is not None
            and all(legal)
            and not (top_k is not None and top_k > 0)
            and not (top_p is not None and 0 < top_p < 1)
        ):
            return self._sample_host(logits, legal, temps, keys)
        flat: torch.Tensor | None = None
        flat_host: list[int] | None = None
        if legal is not None:
            flat_host = [r * V + j for r, ids in enumerate(legal) for j in ids]
            flat = to_device(flat_host, torch.long, self.device)
            allowed = torch.zeros(n * V, dtype=torch.bool, device=dev).index_fill_(0, flat, True)
            logits = logits.float().masked_fill(~allowed.view(n, V), -math.inf)
        else:
            logits = logits.float()
        if keys is None:
            tau = to_device(np.asarray(temps, dtype=np.float32), torch.float32, self.device)
        else:
            # per-row counter-based Gumbel noise at the allowed entries, drawn on the host
            idx_np = np.arange(n * V) if flat_host is None else np.asarray(flat_host, np.int64)
            rows_np = idx_np // V
            key_lo = np.asarray(keys[0], np.int64)[rows_np]
            key_hi = np.asarray(keys[1], np.int64)[rows_np]
            gumbel = -np.log(-np.log(seeded_uniform(key_lo, key_hi, keys[2], idx_np % V)))
            floats = np.concatenate([np.asarray(temps), gumbel]).astype(np.float32)
            tau_noise = to_device(floats, torch.float32, self.device)
            tau, noise = tau_noise[:n], tau_noise[n:]
        if top_k is not None and top_k > 0:
            kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, -math.inf)
        probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)  # (n, V)
        if top_p is not None and 0 < top_p < 1:
            sp, si = probs.sort(dim=-1, descending=True)
            drop = (sp.cumsum(-1) - sp) > top_p  # keep the smallest prefix reaching top_p
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, si, drop), -math.inf)
            probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)
        if keys is not None:
            # Gumbel-max over the allowed entries: exact argmax at tau = 0 (the noise is finite)
            idx = flat if flat is not None else torch.arange(n * V, device=dev)
            score = torch.full((n * V,), -math.inf, device=dev)
            score.index_copy_(0, idx, logits.view(-1)[idx] + tau[idx // V] * noise)
            ids = score.view(n, V).argmax(dim=-1)
        else:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
            if self.triton:
                ids = kernels().sample(logits, torch.isfinite(logits), tau, seed, backend="triton")
            else:
                # Gumbel-max on the CPU generator: exact argmax at tau = 0, softmax(l / tau) else
                u = torch.rand(logits.shape, generator=self.generator).clamp_min(1e-20).to(dev)
                score = logits + tau[:, None] * -torch.log(-torch.log(u))
                ids = score.argmax(dim=-1)
        p = torch.where(tau <= 0, 1.0, probs.gather(1, ids[:, None])[:, 0])
        res = torch.stack([ids.double(), p.double()]).tolist()  # the one sync
        return [int(i) for i in res[0]], res[1]

    def _sample_host(
        self,
        logits: torch.Tensor,
        legal: Sequence[Sequence[int]],
        temps: Sequence[float],
        keys: Keys | None,
    ) -> tuple[list[int], list[float]]:
        """``sample`` on the CPU without top-k/top-p, in numpy over the allowed entries only (a
        few dozen a row instead of every logit). Same results as the general path: the same
        float32 noise (the generator's full-shape draw, or ``seeded_uniform``), the same float32
        score ``logit + tau * noise``, ties to the lowest id, and the chosen id's probability
        under softmax(logits / tau) over the allowed entries."""
        n, V = logits.shape
        lens = [len(ids) for ids in legal]
        cols = np.fromiter(chain.from_iterable(legal), np.int64, sum(lens))
        rows = np.repeat(np.arange(n), lens)
        starts = np.asarray([0, *accumulate(lens)][:-1], np.int64)
        lg = (logits if logits.dtype == torch.float32 else logits.float()).detach().numpy()
        lg = lg[rows, cols]  # (m,) float32
        tau = np.asarray(temps, np.float64).astype(np.float32)
        if keys is None:
            # the same draws as the general path (the generator advances alike: the Triton
            # kernel's seed, then the uniforms); the logs of the allowed entries only, in torch
            # (numpy's float32 log rounds differently)
            torch.randint(0, 2**31 - 1, (1,), generator=self.generator)
            u = torch.rand((n, V), generator=self.generator).clamp_min(1e-20)
            picked = u.view(-1).index_select(0, torch.from_numpy(rows * V + cols))
            noise = (-torch.log(-torch.log(picked))).numpy()
        else:
            u64 = seeded_uniform_rows(keys[0], keys[1], keys[2], rows, cols)
            noise = (-np.log(-np.log(u64))).astype(np.float32)
        score = lg + tau[rows] * noise  # float32, rounded as on the general path
        # per row: the best score, ties to the lowest id
        best = np.lexsort((cols, -score, rows))[starts]
        ids = cols[best]
        z = lg / np.maximum(tau, np.float32(1e-6))[rows]
        top = np.maximum.reduceat(z, starts)
        e = np.exp(z - top[rows])
        p = e[best] / np.add.reduceat(e, starts)
        return ids.tolist(), np.where(tau <= 0, 1.0, p.astype(np.float64)).tolist()
