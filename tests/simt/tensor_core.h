// The SIMT emulator's tensor-core, asynchronous-copy and barrier instructions: what the
// inline PTX of kernels/cuda/mma.cuh, wgmma.cuh and sync.cuh does, for their
// `#if defined(DSA_SIMT)` branches. Operand layouts are the PTX ISA's, as those headers'
// comments describe them: the kernels validated on an H100 (the wgmma indexer and MQA,
// the MHA kernels, the mma.sync kernels) pass through these same functions, which is
// what says the layouts here are the hardware's.
//
// Asynchronous work is done late, where the hardware promises it is done: a warp's
// share of a wgmma group (its 16 rows) runs at the warp's wgmma.wait_group that retires
// it, reading shared memory then (a tile overwritten before that wait, by this warp or
// by another that got past its own wait, shows), and writes the accumulators then (read
// before it, they hold the old values); cp.async copies land at the cp.async.wait_group
// or mbarrier arrival that covers them.
#pragma once

#include <cstdint>

namespace simt {

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 and m16n8k32 (e4m3): C += A * B
// over the calling warp (all 32 lanes).
void mma_m16n8k16_bf16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1);
void mma_m16n8k32_e4m3(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1);
// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 (all 32 lanes).
void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row_address);

// cp.async.cg.shared.global of 16 bytes (src_bytes of them read, the rest zeros),
// commit_group, wait_group N, and cp.async.mbarrier.arrive.noinc.
void cp_async16(void* dst, const void* src, int src_bytes);
void cp_async_commit();
void cp_async_wait(int groups_left);
void cp_async_arrive(std::uint32_t mbarrier);

// The wgmma shapes of kernels/cuda/wgmma.cuh: D (64 x N, fp32) = (accumulate ? D : 0)
// + A (64 x K) * B (K x N); A and B K-major in shared memory unless named otherwise.
enum WgmmaShape : int {
  wgmma_m64n128k32_e4m3,
  wgmma_m64n32k16_bf16,
  wgmma_m64n64k16_bf16,
  wgmma_m64n256k16_bf16_bt,      // B MN-major (stored [k][n])
  wgmma_m64n128k16_bf16,
  wgmma_m64n128k16_bf16_rs_bt,   // A from registers (mma.sync's A fragment per warp), B MN-major
};
// wgmma.mma_async by this thread (its part: its accumulators d, and A fragment a for the
// register form); wgmma.commit_group; wgmma.wait_group N (the calling warp).
void wgmma_issue(WgmmaShape shape, float* d, std::uint64_t desc_a, std::uint64_t desc_b, const std::uint32_t* a,
                 int accumulate);
void wgmma_commit();
// wgmma.fence: this thread's registers are ordered before its next wgmma.mma_async
// (one is required after each wait_group: the emulator fails an issue without it).
void wgmma_fence();
void wgmma_wait(int groups_left);

// mbarrier.try_wait.parity: lets other threads run first, then tests the phase.
bool mbarrier_try_wait(std::uint32_t bar, std::uint32_t parity);

// cp.async.bulk.tensor.3d (TMA): the box at element coordinates (x, y, z) of the tensor
// map (made by tensor_map_encode_tiled) into shared memory at dst, elements outside the
// tensor as zeros, in the map's 128-byte swizzle; then its bytes complete on the
// mbarrier.
void tma_load_3d(void* dst, const void* tensor_map, int x, int y, int z, std::uint32_t mbarrier);
// cuTensorMapEncodeTiled, as the runtime's driver entry point returns it: the map's
// geometry kept in the CUtensorMap's 128 opaque bytes, in the emulator's own form.
// Returns a CUresult (0: success).
int tensor_map_encode_tiled(void* map, int data_type, unsigned rank, void* global, const std::uint64_t* dims,
                            const std::uint64_t* strides, const std::uint32_t* box, const std::uint32_t* element_strides,
                            int interleave, int swizzle, int l2_promotion, int oob_fill);

}  // namespace simt
