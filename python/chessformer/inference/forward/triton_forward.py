"""The ``triton`` backend (CUDA): PyTorch matmuls around the Triton kernels of
``chessformer.kernels`` -- flash-decoding attention straight over the selected slots (every token
a row with its slot and length; nothing gathered), the residual add fused into the next
LayerNorm, and (``cuda_graphs=True``) the single-token step replayed from a CUDA graph per batch
size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from chessformer.inference.device import kernels, to_device
from chessformer.inference.forward.base import KVCache, Weights
from chessformer.inference.forward.tensor import Attend, Span, TensorForward


class TritonForward(TensorForward):
    backend = "triton"

    def __init__(self, weights: Weights, cache: KVCache, *, cuda_graphs: bool = False) -> None:
        super().__init__(weights, cache)
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[int, tuple[Any, torch.Tensor, torch.Tensor]] = {}

    def _decode(
        self,
        slots: list[int],
        tokens: list[int],
        base: list[int],
        span: Span,
        inv: list[int] | None,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not self.cuda_graphs or feats is not None:  # board-aware steps run without graphs
            return super()._decode(slots, tokens, base, span, inv, feats)
        packed = to_device(slots + tokens + base, torch.long, self.device)  # inv: None (unsorted)
        return self._graph_decode(packed, len(slots))

    def _graph_decode(self, packed: torch.Tensor, n: int) -> torch.Tensor:
        """The single-token step replayed from a CUDA graph captured for batch size ``n``.

        The graph reads only ``static_in`` (refilled each call), the weights and the KV cache
        (fixed addresses for the engine's lifetime); every shape in the step depends on ``n``
        alone on the Triton path, so the same graph is valid for any slots, tokens and positions.
        The first call for a given ``n`` runs the step eagerly (its result is returned; this also
        compiles the kernels) and then captures it -- capture records without executing.
        """
        entry = self._graphs.get(n)
        if entry is not None:
            graph, static_in, static_out = entry
            static_in.copy_(packed)
            graph.replay()
            return static_out.clone()
        static_in = packed.clone()
        main = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self._decode_core(static_in, n, (None, 0), 0, False)  # the real step
        main.wait_stream(side)
        out.record_stream(main)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._decode_core(static_in, n, (None, 0), 0, False)
        self._graphs[n] = (graph, static_in, static_out)
        return out

    def _add_norm(
        self,
        branch: torch.Tensor | None,
        x: torch.Tensor,
        w: torch.Tensor,
        b: torch.Tensor | None,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if branch is None:
            return F.layer_norm(x, (x.size(-1),), w, b, eps), x
        y, h = kernels().add_layernorm(branch, x, w, eps, bias=b, backend="triton")
        return y, h

    def _token_attention(self, slots: torch.Tensor, pos: torch.Tensor) -> Attend:
        """Each token a row of the decode kernel: its slot, length its position + 1."""
        lengths = (pos + 1).to(torch.int32)
        slot32 = slots.to(torch.int32)
        kb, C, k, v = kernels(), self.n_embd, self.cache.k, self.cache.v

        def attend(q: torch.Tensor, layer: int) -> torch.Tensor:
            o = kb.decode_attention(q, k[layer], v[layer], lengths, slots=slot32, backend="triton")
            return o.reshape(q.size(0), C)

        return attend

    def _decode_attention(
        self, slot_t: torch.Tensor, pos: torch.Tensor, S: int, span: Span
    ) -> Attend:
        return self._token_attention(slot_t, pos)

    def _plan_prefill(
        self, ints: list[int], slots: list[int], lens: list[int], base: list[int], start: list[int]
    ) -> Any:
        off = len(ints)
        ints += [s for s, ln in zip(slots, lens, strict=True) for _ in range(ln)]  # each token's
        return off

    def _prefill_attention(
        self, packed: torch.Tensor, pos_t: torch.Tensor, n: int, plan: Any
    ) -> Attend:
        return self._token_attention(packed[plan : plan + pos_t.size(0)], pos_t)
