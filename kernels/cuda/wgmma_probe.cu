// The wgmma self-test (kernels/cuda/wgmma_probe.h). One warpgroup fills shared memory
// with a filler value, writes A and B into the places and layouts the production kernel
// uses (same helpers: sw128_offset, wgmma_desc_sw128, the wgmma wrappers), runs that
// kernel's sequence of wgmma over the K dimension, and writes D through the
// accumulator fragment map. A wrong offset reads filler and shows as a large error at
// a recognisable place.
#include "kernels/cuda/wgmma_probe.h"

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/cuda_device.h"

namespace dsa::cuda {

namespace {

constexpr int kThreads = 128;
constexpr std::size_t kSmem = 96 * 1024 + 1024;  // the largest layout below, + alignment slack
constexpr std::uint16_t kFillerBf16 = 0x447A;     // 1000.0: a read of the wrong place is loud
constexpr std::uint8_t kFillerE4m3 = 0x70;        // 128.0 in e4m3

// Where each form's operands sit, as in its kernel.
struct Layout {
  int n, k, esize;         // D [64, n] = A [64, k] * B [k, n]; bytes per element
  int a_rows, a_row0;      // A lives in rows [a_row0, a_row0 + 64) of an a_rows-row K-major tile
  int b_rows, b_row0;      // K-major B: rows [b_row0, b_row0 + n) of a b_rows-row tile;
  bool b_mn;               // MN-major B: k rows, n columns in 64-column blocks of b_rows rows,
  int b_col0;              // starting at column block b_col0 (blocks before it hold filler)
  bool a_regs;             // A from registers (mma.sync fragments) instead of shared memory
};

__host__ __device__ constexpr Layout layout_of(WgmmaProbeKind kind) {
  switch (kind) {
    case WgmmaProbeKind::indexer_e4m3: return {128, 128, 1, 64, 0, 128, 0, false, 0, false};
    case WgmmaProbeKind::mqa_scores: return {32, 64, 2, 64, 0, 64, 32, false, 0, false};  // warpgroup 1's keys
    case WgmmaProbeKind::mqa_scores_n64: return {64, 128, 2, 64, 0, 64, 0, false, 0, false};
    case WgmmaProbeKind::mqa_values: return {256, 64, 2, 64, 0, 64, 0, true, 4, false};   // warpgroup 1's columns
    case WgmmaProbeKind::mha_scores: return {128, 128, 2, 128, 64, 128, 0, false, 0, false};  // warpgroup 1's rows
    case WgmmaProbeKind::mha_values: return {128, 128, 2, 128, 0, 128, 0, true, 0, true};
  }
  return {};
}

// Byte offset of element (row, col) of a K-major tile of `rows` rows (col along K).
__device__ int kmajor_offset(int rows, int row, int col, int esize) {
  const int byte = col * esize;
  return (byte / 128) * rows * 128 + sw128_offset(row, (byte % 128) / 16) + byte % 16;
}

template <WgmmaProbeKind kKind>
__global__ void __launch_bounds__(kThreads, 1) probe_kernel(const unsigned char* a, const unsigned char* b, float* d) {
  constexpr Layout L = layout_of(kKind);
  constexpr int kRegs = L.n / 2;  // accumulator registers per thread
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* as = base;
  unsigned char* bs = base + 32 * 1024;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;

  for (int i = tid; i < 96 * 1024 / 2; i += kThreads) {
    if constexpr (L.esize == 1) base[2 * i] = base[2 * i + 1] = kFillerE4m3;
    else reinterpret_cast<std::uint16_t*>(base)[i] = kFillerBf16;
  }
  __syncthreads();
  const auto put = [&](unsigned char* at, const unsigned char* from) {
    for (int e = 0; e < L.esize; ++e) at[e] = from[e];
  };
  if constexpr (!L.a_regs)
    for (int i = tid; i < 64 * L.k; i += kThreads) {
      const int r = i / L.k, c = i % L.k;
      put(as + kmajor_offset(L.a_rows, L.a_row0 + r, c, L.esize), a + i * L.esize);
    }
  for (int i = tid; i < L.k * L.n; i += kThreads) {
    const int kk = i / L.n, n = i % L.n;  // b is [k, n]
    unsigned char* at;
    if constexpr (L.b_mn) {
      const int col = (L.b_col0 * 64 + n) * L.esize;
      at = bs + (col / 128) * L.b_rows * 128 + sw128_offset(kk, (col % 128) / 16) + col % 16;
    } else {
      at = bs + kmajor_offset(L.b_rows, L.b_row0 + n, kk, L.esize);
    }
    put(at, b + i * L.esize);
  }
  fence_proxy_async();
  __syncthreads();

  float acc[kRegs];
#pragma unroll
  for (int i = 0; i < kRegs; ++i) acc[i] = 0.0f;
  fence_operands(acc);
  wgmma_fence();
  if constexpr (kKind == WgmmaProbeKind::indexer_e4m3) {
    const std::uint64_t da = wgmma_desc_sw128(as, 16, 1024), db = wgmma_desc_sw128(bs, 16, 1024);
#pragma unroll
    for (int s = 0; s < 4; ++s) wgmma_m64n128k32_e4m3(acc, da + 2 * s, db + 2 * s, s > 0);
  } else if constexpr (kKind == WgmmaProbeKind::mqa_scores) {
    const std::uint64_t da = wgmma_desc_sw128(as, 16, 1024), db = wgmma_desc_sw128(bs + L.b_row0 * 128, 16, 1024);
#pragma unroll
    for (int s = 0; s < 4; ++s) wgmma_m64n32k16_bf16(acc, da + 2 * s, db + 2 * s, s > 0);
  } else if constexpr (kKind == WgmmaProbeKind::mqa_scores_n64) {
    const std::uint64_t da = wgmma_desc_sw128(as, 16, 1024), db = wgmma_desc_sw128(bs, 16, 1024);
#pragma unroll
    for (int s = 0; s < L.k / 16; ++s) {  // 64-column blocks 8 KB apart, 32 bytes per wgmma inside one
      const auto step = static_cast<std::uint64_t>(((s >> 2) * 64 * 128 + (s & 3) * 32) >> 4);
      wgmma_m64n64k16_bf16(acc, da + step, db + step, s > 0);
    }
  } else if constexpr (kKind == WgmmaProbeKind::mqa_values) {
    const std::uint64_t da = wgmma_desc_sw128(as, 16, 1024);
    const std::uint64_t db = wgmma_desc_sw128(bs + L.b_col0 * L.b_rows * 128, L.b_rows * 128, 1024);
#pragma unroll
    for (int s = 0; s < 4; ++s) wgmma_m64n256k16_bf16_bt(acc, da + 2 * s, db + (s * 16 * 128 >> 4), 1);
  } else if constexpr (kKind == WgmmaProbeKind::mha_scores) {
    const std::uint64_t da = wgmma_desc_sw128(as + L.a_row0 * 128, 16, 1024), db = wgmma_desc_sw128(bs, 16, 1024);
#pragma unroll
    for (int s = 0; s < L.k / 16; ++s) {
      const auto step = static_cast<std::uint64_t>(((s >> 2) * L.a_rows * 128 + (s & 3) * 32) >> 4);
      wgmma_m64n128k16_bf16(acc, da + step, db + step, s > 0);
    }
  } else {  // mha_values: A as the mma.sync fragments of rows 16 warp + g and + 8
    const auto* a16 = reinterpret_cast<const std::uint16_t*>(a);
    const auto pair = [&](int r, int c) {
      return static_cast<std::uint32_t>(a16[r * L.k + c]) | (static_cast<std::uint32_t>(a16[r * L.k + c + 1]) << 16);
    };
    const int r_lo = 16 * warp + g, r_hi = r_lo + 8;
    const std::uint64_t db = wgmma_desc_sw128(bs, L.b_rows * 128, 1024);
#pragma unroll
    for (int s = 0; s < L.k / 16; ++s) {
      const std::uint32_t frag[4] = {pair(r_lo, 16 * s + 2 * tq), pair(r_hi, 16 * s + 2 * tq), pair(r_lo, 16 * s + 8 + 2 * tq),
                                     pair(r_hi, 16 * s + 8 + 2 * tq)};
      wgmma_m64n128k16_bf16_rs_bt(acc, frag, db + (s * 16 * 128 >> 4), 1);
    }
  }
  wgmma_commit();
  wgmma_wait_all();
  fence_operands(acc);
  const int r_lo = 16 * warp + g;
#pragma unroll
  for (int j = 0; j < L.n / 8; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      d[r_lo * L.n + 8 * j + 2 * tq + e] = acc[4 * j + e];
      d[(r_lo + 8) * L.n + 8 * j + 2 * tq + e] = acc[4 * j + 2 + e];
    }
}

template <WgmmaProbeKind kKind>
void launch_probe(const unsigned char* a, const unsigned char* b, float* d) {
  DSA_CUDA_CHECK(cudaFuncSetAttribute(probe_kernel<kKind>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  probe_kernel<kKind><<<1, kThreads, kSmem>>>(a, b, d);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

WgmmaProbeShape wgmma_probe_shape(WgmmaProbeKind kind) {
  const Layout L = layout_of(kind);
  return {L.n, L.k, L.esize};
}

std::string wgmma_probe_name(WgmmaProbeKind kind) {
  switch (kind) {
    case WgmmaProbeKind::indexer_e4m3: return "indexer_e4m3 (m64n128k32 e4m3, K-major A and B)";
    case WgmmaProbeKind::mqa_scores: return "mqa_scores (m64n32k16 bf16, B from row 32)";
    case WgmmaProbeKind::mqa_scores_n64: return "mqa_scores_n64 (m64n64k16 bf16, a whole 64-row tile, two 64-column blocks)";
    case WgmmaProbeKind::mqa_values: return "mqa_values (m64n256k16 bf16, MN-major B from column block 4, LBO 8 KB)";
    case WgmmaProbeKind::mha_scores: return "mha_scores (m64n128k16 bf16, A from row 64, two 64-column blocks)";
    case WgmmaProbeKind::mha_values: return "mha_values (m64n128k16 bf16, A in registers, MN-major B, LBO 16 KB)";
  }
  return "?";
}

std::vector<float> wgmma_probe(WgmmaProbeKind kind, const std::vector<unsigned char>& a,
                               const std::vector<unsigned char>& b) {
  const Layout L = layout_of(kind);
  const auto want = [&](std::size_t elements) { return elements * static_cast<std::size_t>(L.esize); };
  if (a.size() != want(64 * L.k) || b.size() != want(static_cast<std::size_t>(L.k) * L.n))
    throw CudaError("wgmma_probe: A must be [64, " + std::to_string(L.k) + "] and B [" + std::to_string(L.k) + ", " +
                    std::to_string(L.n) + "] elements of " + std::to_string(L.esize) + " bytes");
  const auto info = cuda_device_info(0);
  if (!info || info->cc_major != 9 || info->cc_minor != 0)
    throw CudaError("wgmma_probe: needs a compute capability 9.0 device (wgmma is sm_90a)");
  DeviceBuffer<unsigned char> da = to_device(a.data(), a.size()), db = to_device(b.data(), b.size());
  DeviceBuffer<float> dd(static_cast<std::size_t>(64 * L.n));
  switch (kind) {
    case WgmmaProbeKind::indexer_e4m3: launch_probe<WgmmaProbeKind::indexer_e4m3>(da.get(), db.get(), dd.get()); break;
    case WgmmaProbeKind::mqa_scores: launch_probe<WgmmaProbeKind::mqa_scores>(da.get(), db.get(), dd.get()); break;
    case WgmmaProbeKind::mqa_scores_n64: launch_probe<WgmmaProbeKind::mqa_scores_n64>(da.get(), db.get(), dd.get()); break;
    case WgmmaProbeKind::mqa_values: launch_probe<WgmmaProbeKind::mqa_values>(da.get(), db.get(), dd.get()); break;
    case WgmmaProbeKind::mha_scores: launch_probe<WgmmaProbeKind::mha_scores>(da.get(), db.get(), dd.get()); break;
    case WgmmaProbeKind::mha_values: launch_probe<WgmmaProbeKind::mha_values>(da.get(), db.get(), dd.get()); break;
  }
  std::vector<float> out(static_cast<std::size_t>(64 * L.n));
  dd.download(out.data(), out.size());
  return out;
}

}  // namespace dsa::cuda
