// Pieces both warpgroup-MMA indexer kernels share (indexer_wgmma.cu: heads as the MMA
// rows; indexer_keyrows.cu: keys as the rows): the real FP8 shape, 128-key tiles of e4m3 rows in the
// 128-byte-swizzled K-major layout (wgmma.cuh), their cp.async load and one 64-row x
// 128-column block of scores as four wgmma.m64n128k32. Device code only.
#pragma once

#include <cstdint>

#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace dsa::cuda::indexer_wgmma {

constexpr int kHeads = 64, kDim = 128;  // the indexer's real shape (the kernels take no other)
constexpr int kKeys = 128;              // keys per tile
constexpr int kThreads = 128;           // one warpgroup
constexpr int kRow = kDim;              // bytes per e4m3 row: exactly one 128-byte swizzle span
constexpr std::size_t kTile = static_cast<std::size_t>(kKeys) * kRow;  // 16 KB

// The K-major, 128-byte-swizzled tile at `tile` (rows of exactly 128 bytes): the
// leading offset is unused, 8-row groups are 1024 bytes apart.
__device__ __forceinline__ std::uint64_t tile_desc(const unsigned char* tile) { return wgmma_desc_sw128(tile, 16, 1024); }

// Key tile `s0` (rows past `nb` zero-filled without a read) into `ks` by cp.async.
__device__ __forceinline__ void load_key_tile(unsigned char* ks, const unsigned char* kg, std::int64_t s0, int nb, int tid) {
  constexpr int kChunks = kRow / 16;
  for (int i = tid; i < kKeys * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    cp_async16(ks + sw128_offset(r, c), kg + (s0 + (r < nb ? r : 0)) * kRow + c * 16, r < nb ? 16 : 0);
  }
}

// The 64 x 128 block A (64 rows x 128 dims) * B^T (128 rows x 128 dims) into `acc`,
// issued asynchronously as one commit group; `active` false commits an empty group so
// the waits count alike.
__device__ __forceinline__ void issue_scores(float (&acc)[64], bool active, std::uint64_t desc_a, std::uint64_t desc_b) {
  if (active) {
    fence_operands(acc);
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < kDim / 32; ++k)  // 32 bytes of K per step: the start address moves 2 x 16 B
      wgmma_m64n128k32_e4m3(acc, desc_a + 2 * k, desc_b + 2 * k, k > 0 ? 1 : 0);
  }
  wgmma_commit();
  fence_operands(acc);
}

}  // namespace dsa::cuda::indexer_wgmma
