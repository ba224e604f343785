// The SIMT emulator's own test kernels (selftest_kernels.h). Built only through
// translate.py, as the emulated project kernels are; never by nvcc.
#include "selftest_kernels.h"

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

}  // namespace

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

}  // namespace simt_selftest
