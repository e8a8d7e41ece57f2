"""Error bounds of the numeric contract (docs/ARCHITECTURE.md, "Numerics contract"), per precision mode.

For an output y = bias + sum_k a_k b_k over K terms, let mag = |bias| + sum |a_k||b_k|
(computed in float64 by ATen from the test's own inputs). With u8 = 2^-8 (bf16 unit
roundoff) and u24 = 2^-24 (fp32):
  bf16 mode     operands rounded once: products off by <= (2 u8 + u8^2)|ab|,
                fp32 accumulation of K terms + bias: <= gamma_(K+1) <= 2 (K+1) u24 of mag.
  bf16x3 mode   hi+lo represents each operand to 2^-16, the dropped lo*lo term is
                <= 2^-16 |ab|: <= 3 * 2^-16 + 2^-32 per product; 3K terms accumulated.
  bf16 tensors  exact products; fp32 accumulation, then one bf16 rounding of the output:
                <= u8 |y| on top of the accumulation error.
gamma_n = n u / (1 - n u) <= 2 n u for every K used here, hence the factor 2.
"""
import torch

U8 = 2.0**-8
U24 = 2.0**-24


def conv_error_bound(mode: str, k: int, mag: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if mode == "bf16":
        return (2 * U8 + U8 * U8 + 2 * (k + 1) * U24) * mag
    if mode == "bf16x3":
        return (3 * 2.0**-16 + 2.0**-32 + 2 * (3 * k + 1) * U24) * mag
    if mode == "bf16_tensor":
        acc = 2 * (k + 1) * U24 * mag
        return U8 * (ref.abs() + acc) + acc
    if mode == "ieee":  # ATen's own fp32 conv on the host, also accumulated in fp32
        return 2 * (k + 1) * U24 * mag
    raise ValueError(mode)
