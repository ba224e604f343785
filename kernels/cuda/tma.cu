// Tensor maps for TMA loads (tma.h).
#include "kernels/cuda/tma.h"

#include <cudaTypedefs.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/cuda_check.h"

namespace dsa::cuda {

namespace {

PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(const char* who) {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    DSA_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found));
    return found == cudaDriverEntryPointSuccess ? reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn) : nullptr;
  }();
  if (encode == nullptr) throw CudaError(std::string(who) + ": the CUDA driver has no cuTensorMapEncodeTiled");
  return encode;
}

}  // namespace

CUtensorMap mqa_dense_cache_map(const MqaLaunch& p, int box_rows, const char* who) {
  const auto encode = tensor_map_encoder(who);
  const std::int64_t row_bytes = static_cast<std::int64_t>(p.d_qk) * 2;
  const std::int64_t per_seq = p.seq_queries > 0 ? p.seq_queries : p.queries;
  const std::int64_t seqs = p.seq_queries > 0 ? p.queries / p.seq_queries : 1;
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(p.keys, p.query_offset + per_seq));
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(p.d_qk), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(std::max<std::int64_t>(1, seqs))};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(row_bytes),
                                 static_cast<cuuint64_t>(std::max<std::int64_t>(1, p.keys) * row_bytes)};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(p.kv), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw CudaError(std::string(who) + ": cuTensorMapEncodeTiled failed (CUresult " + std::to_string(r) + ")");
  return map;
}

}  // namespace dsa::cuda
