#include "core/indexer_operands.h"

#include "core/check.h"
#include "core/hadamard.h"
#include "core/quant.h"

namespace dsa {

IndexerOperands prepare_indexer_operands(const HostTensor<float>& q, const HostTensor<float>& k,
                                         const HostTensor<float>& w, DType dtype, bool hadamard) {
  require(q.shape().rank == 3 && k.shape().rank == 2 && w.shape().rank == 2,
          "prepare_indexer_operands: expected q [T,H,D], k [S,D], w [T,H]");
  const auto D = static_cast<std::size_t>(q.size(2));
  require(k.size(1) == q.size(2) && w.size(0) == q.size(0) && w.size(1) == q.size(1),
          "prepare_indexer_operands: q, k, w shapes disagree");
  IndexerOperands op;
  op.dtype = dtype;
  op.hadamard = hadamard;
  op.q = q;
  op.k = k;
  op.w = w;
  if (hadamard) {
    hadamard_rotate(op.q.span(), D);
    hadamard_rotate(op.k.span(), D);
  }
  switch (dtype) {
    case DType::f32: break;
    case DType::bf16:
      round_in_place(op.q.span(), DType::bf16);
      round_in_place(op.k.span(), DType::bf16);
      break;
    case DType::fp8_e4m3: {
      // One scale per head vector of q and per token of k (block = head dim = 128).
      op.q_codes = HostTensor<std::uint8_t>(q.shape());
      op.q_scales = HostTensor<float>({q.size(0), q.size(1)});
      op.k_codes = HostTensor<std::uint8_t>(k.shape());
      op.k_scales = HostTensor<float>({k.size(0)});
      quantize_fp8_blocks(op.q.span(), D, op.q_codes.span(), op.q_scales.span());
      quantize_fp8_blocks(op.k.span(), D, op.k_codes.span(), op.k_scales.span());
      dequantize_fp8_blocks(op.q_codes.span(), op.q_scales.span(), D, op.q.span());
      dequantize_fp8_blocks(op.k_codes.span(), op.k_scales.span(), D, op.k.span());
      break;
    }
    default: require(false, "prepare_indexer_operands: dtype must be fp32, bf16 or fp8");
  }
  return op;
}

}  // namespace dsa
