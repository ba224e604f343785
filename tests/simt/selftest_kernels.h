// Small kernels that pin down the SIMT emulator's semantics (test_simt_emulator.cpp):
// each launcher runs one on emulated device memory and returns the launch's error.
#pragma once

#include <cuda_runtime.h>

namespace simt_selftest {

// out[32 * 9]: per lane of one warp, nine warp-operation results (see the .cu).
cudaError_t warp_ops(int* out);
// out[n]: every thread's read of a shared value thread 0 stored, with or without a
// barrier between store and reads.
cudaError_t shared_store_then_read(int* out, int threads, bool barrier);
// Half a warp reaches a full-mask shuffle: a deadlock.
cudaError_t half_warp_shuffle();
// One warp at a named barrier the other never reaches, the other on an mbarrier phase
// nothing completes: a deadlock whose report names both waits.
cudaError_t stuck_waits();
// Lane 1 calls a shuffle whose mask names lane 0 only.
cudaError_t lane_outside_its_mask();
// Thread 0 writes p[n + past].
cudaError_t write_past_the_end(int* p, int n, int past);
// A launch with `bytes` of dynamic shared memory, opted in up to `opt_in` (0: not).
cudaError_t dynamic_shared(int* out, int bytes, int opt_in);
// out[blocks]: the order the blocks ran in (each takes a ticket).
cudaError_t block_order(int* out, int* ticket, int blocks);
// out[block * threads + t]: thread t's place in its block's order (tickets: one int a block, zeroed).
cudaError_t thread_order(int* out, int* tickets, int blocks, int threads);

// A product of two tiles written by plain stores, through wgmma (see the .cu), with
// every fence the hardware needs, or with one left out, or with the accumulators
// written while the second product is in flight.
enum class WgmmaOrder { all, no_proxy_fence, no_wgmma_fence, no_second_wgmma_fence, accumulator_written_in_flight };
// out[128 * 16]: every thread's 16 accumulators.
cudaError_t wgmma_order(float* out, WgmmaOrder mode);

// out[256] = in[256] through one TMA box, the mbarrier's init fenced or not.
cudaError_t tma_box(unsigned char* out, const unsigned char* in, bool init_fence);

// A named barrier over 32 threads reached by one whole warp, or by half of each of two.
cudaError_t named_barrier(bool half_warps);

}  // namespace simt_selftest
