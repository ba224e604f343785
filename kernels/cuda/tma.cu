// Tensor maps for TMA loads (tma.h).
#include "kernels/cuda/tma.h"

#include <cudaTypedefs.h>

#include <algorithm>
#include <cstdint>
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

CacheMapGeometry mqa_dense_cache_geometry(const MqaLaunch& p, int box_rows) {
  const std::int64_t row_bytes = static_cast<std::int64_t>(p.d_qk) * 2;
  const std::int64_t per_seq = p.seq_queries > 0 ? p.seq_queries : p.queries;
  const std::int64_t seqs = p.seq_queries > 0 ? p.queries / p.seq_queries : 1;
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(p.keys, p.query_offset + per_seq));
  CacheMapGeometry g{};
  g.dims[0] = static_cast<std::uint64_t>(p.d_qk);
  g.dims[1] = static_cast<std::uint64_t>(rows);
  g.dims[2] = static_cast<std::uint64_t>(std::max<std::int64_t>(1, seqs));
  g.strides[0] = static_cast<std::uint64_t>(row_bytes);
  g.strides[1] = static_cast<std::uint64_t>(std::max<std::int64_t>(1, p.keys) * row_bytes);
  g.box[0] = 64;
  g.box[1] = static_cast<std::uint32_t>(box_rows);
  g.box[2] = 1;
  return g;
}

std::optional<std::string> cache_map_problem(const CacheMapGeometry& g, const void* base) {
  constexpr std::uint64_t kElem = 2, kSwizzleSpan = 128;
  if (reinterpret_cast<std::uintptr_t>(base) % 16 != 0) return std::string("the cache's address is not 16-byte aligned");
  for (int i = 0; i < 3; ++i)
    if (g.dims[i] == 0 || g.dims[i] > (std::uint64_t{1} << 32))
      return "dimension " + std::to_string(i) + " is " + std::to_string(g.dims[i]) + " (must be in [1, 2^32])";
  for (int i = 0; i < 2; ++i)
    if (g.strides[i] % 16 != 0 || g.strides[i] >= (std::uint64_t{1} << 40))
      return "stride " + std::to_string(i) + " is " + std::to_string(g.strides[i]) +
             " bytes (must be a multiple of 16 below 2^40)";
  if (g.strides[0] < g.dims[0] * kElem) return std::string("the row stride is shorter than a row");
  if (g.strides[1] < g.strides[0] * g.dims[1]) return std::string("the sequence stride is shorter than the mapped rows");
  for (int i = 0; i < 3; ++i)
    if (g.box[i] == 0 || g.box[i] > 256)
      return "box dimension " + std::to_string(i) + " is " + std::to_string(g.box[i]) + " (must be in [1, 256])";
  const std::uint64_t inner = g.box[0] * kElem;
  if (inner % 16 != 0 || inner > kSwizzleSpan)
    return "the box's inner extent is " + std::to_string(inner) +
           " bytes (must be a multiple of 16 and at most the 128-byte swizzle span)";
  return std::nullopt;
}

CUtensorMap mqa_dense_cache_map(const MqaLaunch& p, int box_rows, const char* who) {
  const CacheMapGeometry g = mqa_dense_cache_geometry(p, box_rows);
  if (auto why = cache_map_problem(g, p.kv)) throw CudaError(std::string(who) + ": tensor map of the cache: " + *why);
  const auto encode = tensor_map_encoder(who);
  const cuuint32_t element_strides[3] = {1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(p.kv), g.dims, g.strides, g.box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw CudaError(std::string(who) + ": cuTensorMapEncodeTiled failed (CUresult " + std::to_string(r) + ")");
  return map;
}

}  // namespace dsa::cuda
