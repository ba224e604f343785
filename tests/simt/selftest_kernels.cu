// The SIMT emulator's own test kernels (selftest_kernels.h). Built only through
// translate.py, as the emulated project kernels are; never by nvcc.
#include "selftest_kernels.h"

#include <cuda.h>

#include <cstdint>

#include "kernels/cuda/sync.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace simt_selftest {

namespace {

__global__ void warp_ops_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  int* o = out + 9 * lane;
  o[0] = __shfl_sync(0xFFFFFFFFu, lane * 10, 3);
  o[1] = __shfl_up_sync(0xFFFFFFFFu, lane * 10, 1);
  o[2] = __shfl_down_sync(0xFFFFFFFFu, lane * 10, 2);
  o[3] = __shfl_xor_sync(0xFFFFFFFFu, lane * 10, 5);
  o[4] = __shfl_sync(0xFFFFFFFFu, lane * 10, lane + 1, 8);  // within segments of 8 lanes
  o[5] = static_cast<int>(__ballot_sync(0xFFFFFFFFu, lane % 3 == 0));
  o[6] = static_cast<int>(__match_any_sync(0xFFFFFFFFu, lane / 4));
  o[7] = __all_sync(0xFFFFFFFFu, lane < 32) + 2 * __all_sync(0xFFFFFFFFu, lane < 31);
  o[8] = lane < 16 ? __shfl_xor_sync(0x0000FFFFu, lane, 1) : __shfl_xor_sync(0xFFFF0000u, lane, 2);  // two sub-warps at once
}

__global__ void store_then_read_kernel(int* out, bool barrier) {
  __shared__ int value;
  if (threadIdx.x == 0) value = 42;
  if (barrier) __syncthreads();
  out[threadIdx.x] = value;
}

__global__ void half_warp_kernel() {
  if (threadIdx.x < 16) (void)__shfl_sync(0xFFFFFFFFu, 1, 0);
}

__global__ void outside_mask_kernel() {
  if (threadIdx.x == 1) (void)__shfl_sync(0x1u, 1, 0);
}

__global__ void write_past_kernel(int* p, int n, int past) {
  if (threadIdx.x == 0) p[n + past] = 1;
}

__global__ void dynamic_kernel(int* out) {
  extern __shared__ int dyn[];
  out[threadIdx.x] = dyn[threadIdx.x];  // read before any write: the fill
}

__global__ void block_order_kernel(int* out, int* ticket) {
  if (threadIdx.x == 0) out[atomicAdd(ticket, 1)] = static_cast<int>(blockIdx.x);
}

// Each thread's place in its block's order of arrival.
__global__ void thread_order_kernel(int* out, int* tickets) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(&tickets[blockIdx.x], 1);
}

// One warpgroup: A (64 x 16) and B (32 x 16, i.e. B^T) of bf16 1.0 stored with plain
// stores into 128-byte-swizzled K-major tiles, then D (64 x 32) = A B, twice over (the
// second product after the first's wait_group), each D element 16 then 32.
__global__ void wgmma_order_kernel(float* out, WgmmaOrder mode) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* a = dsa::cuda::smem_aligned_1024(smem_raw);
  unsigned char* b = a + 64 * 128;
  const int tid = static_cast<int>(threadIdx.x);
  constexpr std::uint16_t kOne = 0x3F80;
  for (int i = tid; i < (64 + 32) * 8; i += 128) {  // row i / 8, 16-byte chunk i % 8 (K 0-63: only 0-15 read)
    auto* chunk = reinterpret_cast<std::uint16_t*>(a + dsa::cuda::sw128_offset(i / 8, i % 8));
    for (int e = 0; e < 8; ++e) chunk[e] = kOne;
  }
  if (mode != WgmmaOrder::no_proxy_fence) dsa::cuda::fence_proxy_async();
  __syncthreads();
  float d[16];
  for (float& x : d) x = 0.0f;
  const std::uint64_t da = dsa::cuda::wgmma_desc_sw128(a, 16, 1024), db = dsa::cuda::wgmma_desc_sw128(b, 16, 1024);
  if (mode != WgmmaOrder::no_wgmma_fence) dsa::cuda::wgmma_fence();
  dsa::cuda::wgmma_m64n32k16_bf16(d, da, db, 1);
  dsa::cuda::wgmma_commit();
  dsa::cuda::wgmma_wait_all();
  if (mode != WgmmaOrder::no_second_wgmma_fence) dsa::cuda::wgmma_fence();
  dsa::cuda::wgmma_m64n32k16_bf16(d, da, db, 1);
  dsa::cuda::wgmma_commit();
  if (mode == WgmmaOrder::accumulator_written_in_flight) d[3] *= 0.5f;
  dsa::cuda::wgmma_wait_all();
  for (int j = 0; j < 16; ++j) out[16 * tid + j] = d[j];
}

// Thread 0 makes an mbarrier, loads one 16 x 16 box of bytes by TMA, and every thread
// copies a byte of it out after the barrier's phase.
__global__ void tma_box_kernel(unsigned char* out, const __grid_constant__ CUtensorMap map, bool init_fence) {
  __shared__ alignas(128) unsigned char box[256];
  __shared__ alignas(8) std::uint64_t bar;
  if (threadIdx.x == 0) {
    dsa::cuda::mbar_init(&bar, 1);
    if (init_fence) dsa::cuda::fence_mbarrier_init();
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    dsa::cuda::mbar_arrive_expect_tx(&bar, 256);
    dsa::cuda::tma_load_3d(box, &map, 0, 0, 0, &bar);
  }
  dsa::cuda::mbar_wait(&bar, 0);
  out[threadIdx.x] = box[threadIdx.x];
}

// Named barrier 1 over 32 threads of a 64-thread block: reached by warp 0 (whole), or
// by the lower half of each warp (32 threads, but two half warps).
__global__ void half_warps_at_a_barrier_kernel(bool half_warps) {
  const bool in = half_warps ? (threadIdx.x & 31) < 16 : threadIdx.x < 32;
  if (in) dsa::cuda::bar_sync(1, 32);
  __syncthreads();  // the others wait here (running, not exited) while the barrier completes
}

// Warp 0 waits at named barrier 1 for 64 threads, warp 1 on an mbarrier's phase 0 that
// no arrival completes: neither wait can end.
__global__ void stuck_waits_kernel() {
  __shared__ alignas(8) std::uint64_t bar;
  if (threadIdx.x == 0) dsa::cuda::mbar_init(&bar, 2);
  __syncthreads();
  if (threadIdx.x < 32)
    dsa::cuda::bar_sync(1, 64);
  else
    dsa::cuda::mbar_wait(&bar, 0);
}

}  // namespace

cudaError_t stuck_waits() {
  stuck_waits_kernel<<<1, 64>>>();
  return cudaGetLastError();
}

cudaError_t named_barrier(bool half_warps) {
  half_warps_at_a_barrier_kernel<<<1, 64>>>(half_warps);
  return cudaGetLastError();
}

cudaError_t tma_box(unsigned char* out, const unsigned char* in, bool init_fence) {
  CUtensorMap map{};
  const cuuint64_t dims[3] = {16, 16, 1}, strides[2] = {16, 256};
  const cuuint32_t box[3] = {16, 16, 1}, element_strides[3] = {1, 1, 1};
  if (simt::tensor_map_encode_tiled(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 3, const_cast<unsigned char*>(in), dims, strides, box,
                                    element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                    CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != 0)
    return cudaErrorInvalidValue;
  tma_box_kernel<<<1, 256>>>(out, map, init_fence);
  return cudaGetLastError();
}

cudaError_t wgmma_order(float* out, WgmmaOrder mode) {
  wgmma_order_kernel<<<1, 128, 16 * 1024>>>(out, mode);
  return cudaGetLastError();
}

cudaError_t warp_ops(int* out) {
  warp_ops_kernel<<<1, 32>>>(out);
  return cudaGetLastError();
}

cudaError_t shared_store_then_read(int* out, int threads, bool barrier) {
  store_then_read_kernel<<<1, threads>>>(out, barrier);
  return cudaGetLastError();
}

cudaError_t half_warp_shuffle() {
  half_warp_kernel<<<1, 32>>>();
  return cudaGetLastError();
}

cudaError_t lane_outside_its_mask() {
  outside_mask_kernel<<<1, 32>>>();
  return cudaGetLastError();
}

cudaError_t write_past_the_end(int* p, int n, int past) {
  write_past_kernel<<<1, 32>>>(p, n, past);
  return cudaGetLastError();
}

cudaError_t dynamic_shared(int* out, int bytes, int opt_in) {
  if (opt_in > 0) {
    const cudaError_t e = cudaFuncSetAttribute(dynamic_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, opt_in);
    if (e != cudaSuccess) return e;
  }
  dynamic_kernel<<<1, 64, static_cast<std::size_t>(bytes)>>>(out);
  return cudaGetLastError();
}

cudaError_t block_order(int* out, int* ticket, int blocks) {
  block_order_kernel<<<blocks, 32>>>(out, ticket);
  return cudaGetLastError();
}

cudaError_t thread_order(int* out, int* tickets, int blocks, int threads) {
  thread_order_kernel<<<blocks, threads>>>(out, tickets);
  return cudaGetLastError();
}

}  // namespace simt_selftest
