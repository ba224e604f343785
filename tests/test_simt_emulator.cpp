// The SIMT emulator (tests/simt/) against CUDA's documented semantics, and its checks
// against the faults they are there to catch: a kernel run through it is only as
// trustworthy as these.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "kernels/cuda/device_buffer.h"
#include "tests/simt/scheduler.h"
#include "tests/simt/selftest_kernels.h"

namespace {

using Ints = dsa::DeviceBuffer<int>;  // emulated device memory

std::vector<int> read(const Ints& b) {
  std::vector<int> v(b.size());
  b.download(v.data(), v.size());
  return v;
}

std::string error_text(cudaError_t e) { return cudaGetErrorString(e); }

TEST(SimtEmulator, WarpOperationsFollowCudaSemantics) {
  Ints out(32 * 9);
  ASSERT_EQ(simt_selftest::warp_ops(out.get()), cudaSuccess);
  const std::vector<int> o = read(out);
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  for (int lane = 0; lane < 32; ++lane) {
    const int* r = o.data() + 9 * lane;
    EXPECT_EQ(r[0], 30) << "lane " << lane;                                        // every lane reads lane 3
    EXPECT_EQ(r[1], lane >= 1 ? (lane - 1) * 10 : 0) << "lane " << lane;          // lane 0 keeps its own
    EXPECT_EQ(r[2], lane + 2 < 32 ? (lane + 2) * 10 : lane * 10) << "lane " << lane;
    EXPECT_EQ(r[3], (lane ^ 5) * 10) << "lane " << lane;
    EXPECT_EQ(r[4], ((lane & ~7) + ((lane + 1) & 7)) * 10) << "lane " << lane;    // wraps within its 8
    EXPECT_EQ(static_cast<unsigned>(r[5]), ballot) << "lane " << lane;
    EXPECT_EQ(static_cast<unsigned>(r[6]), 0xFu << (lane / 4 * 4)) << "lane " << lane;
    EXPECT_EQ(r[7], 1) << "lane " << lane;                                          // all < 32, not all < 31
    EXPECT_EQ(r[8], lane < 16 ? lane ^ 1 : lane ^ 2) << "lane " << lane;
  }
}

TEST(SimtEmulator, AMissingBarrierShowsAsAWrongRead) {
  constexpr int kThreads = 128;
  Ints out(kThreads);
  ASSERT_EQ(simt_selftest::shared_store_then_read(out.get(), kThreads, true), cudaSuccess);
  for (int v : read(out)) ASSERT_EQ(v, 42) << "with the barrier every thread reads the store";
  // Without it the threads run in a random order: some read shared memory's fill.
  ASSERT_EQ(simt_selftest::shared_store_then_read(out.get(), kThreads, false), cudaSuccess);
  const std::vector<int> racy = read(out);
  EXPECT_GT(std::count(racy.begin(), racy.end(), -1), 0) << "no thread read before thread 0's store";
  EXPECT_GT(std::count(racy.begin(), racy.end(), 42), 0);
}

TEST(SimtEmulator, AWarpOperationSomeLanesNeverReachIsADeadlockNamed) {
  const std::string e = error_text(simt_selftest::half_warp_shuffle());
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("__shfl_sync"), std::string::npos) << e;
  EXPECT_NE(e.find("for lanes 0xffff0000"), std::string::npos) << e;
}

TEST(SimtEmulator, ADeadlockNamesWhatTheThreadsWaitIn) {
  const std::string e = error_text(simt_selftest::stuck_waits());
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("32 thread(s) in bar.sync 1 (64 threads)"), std::string::npos) << e;
  EXPECT_NE(e.find("32 thread(s) in mbarrier wait (shared address "), std::string::npos) << e;
  EXPECT_NE(e.find(", parity 0)"), std::string::npos) << e;
}

TEST(SimtEmulator, ALaneOutsideItsOwnMaskIsRefused) {
  const std::string e = error_text(simt_selftest::lane_outside_its_mask());
  EXPECT_NE(e.find("leaves it out"), std::string::npos) << e;
}

TEST(SimtEmulator, WritesPastAnAllocationAreCaught) {
  Ints p(100);
  // Within the allocation's last 256 bytes: the canary.
  std::string e = error_text(simt_selftest::write_past_the_end(p.get(), 100, 3));
  EXPECT_NE(e.find("past the end of a 400-byte allocation"), std::string::npos) << e;
  // Further: the guard page, and the launch after it runs as usual.
  Ints q(1024);
  e = error_text(simt_selftest::write_past_the_end(q.get(), 1024, 300));
  EXPECT_NE(e.find("memory fault"), std::string::npos) << e;
  EXPECT_NE(e.find("past the end of a 4096-byte allocation"), std::string::npos) << e;
  Ints out(32 * 9);
  EXPECT_EQ(simt_selftest::warp_ops(out.get()), cudaSuccess);
}

TEST(SimtEmulator, DynamicSharedMemoryNeedsItsOptInAndStartsFilled) {
  Ints out(64);
  EXPECT_EQ(simt_selftest::dynamic_shared(out.get(), 1024, 0), cudaSuccess);
  for (int v : read(out)) EXPECT_EQ(v, -1) << "shared memory is filled at a block's start";
  const std::string e = error_text(simt_selftest::dynamic_shared(out.get(), 64 * 1024, 0));
  EXPECT_NE(e.find("65536 bytes of dynamic shared memory, 49152 allowed"), std::string::npos) << e;
  EXPECT_EQ(simt_selftest::dynamic_shared(out.get(), 64 * 1024, 64 * 1024), cudaSuccess);
  EXPECT_EQ(simt_selftest::dynamic_shared(out.get(), 64 * 1024, 228 * 1024), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "as in CUDA, a refused call is the last error too";
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "and reading it clears it";
}

// What the tensor cores read must reach them through the fences the PTX ISA asks for;
// on a GPU a missing one may go unseen for many runs, so the emulator refuses the issue.
TEST(SimtEmulator, AWgmmaWithoutItsFencesIsRefused) {
  using simt_selftest::WgmmaOrder;
  dsa::DeviceBuffer<float> out(128 * 16);
  ASSERT_EQ(simt_selftest::wgmma_order(out.get(), WgmmaOrder::all), cudaSuccess);
  std::vector<float> d(out.size());
  out.download(d.data(), d.size());
  for (float v : d) ASSERT_EQ(v, 32.0f) << "two products of 16 ones accumulated";
  std::string e = error_text(simt_selftest::wgmma_order(out.get(), WgmmaOrder::no_proxy_fence));
  EXPECT_NE(e.find("no fence.proxy.async after the store"), std::string::npos) << e;
  EXPECT_NE(e.find("its A operand"), std::string::npos) << e;
  for (const WgmmaOrder mode : {WgmmaOrder::no_wgmma_fence, WgmmaOrder::no_second_wgmma_fence}) {
    e = error_text(simt_selftest::wgmma_order(out.get(), mode));
    EXPECT_NE(e.find("no wgmma.fence since"), std::string::npos) << e;
  }
}

// Accumulators changed between a wgmma's issue and its wait (e.g. the output rescaled
// while the product that adds to it runs) give the hardware undefined results.
TEST(SimtEmulator, AccumulatorsWrittenUnderAWgmmaAreRefused) {
  dsa::DeviceBuffer<float> out(128 * 16);
  const std::string e = error_text(simt_selftest::wgmma_order(out.get(), simt_selftest::WgmmaOrder::accumulator_written_in_flight));
  EXPECT_NE(e.find("changed while it was in flight"), std::string::npos) << e;
}

TEST(SimtEmulator, ATmaCopyNeedsItsMbarriersInitFenced) {
  dsa::DeviceBuffer<unsigned char> in(256), out(256);
  std::vector<unsigned char> bytes(256), got(256);
  for (int i = 0; i < 256; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i * 7 + 1);
  in.upload(bytes.data(), bytes.size());
  ASSERT_EQ(simt_selftest::tma_box(out.get(), in.get(), true), cudaSuccess);
  out.download(got.data(), got.size());
  EXPECT_EQ(got, bytes);
  const std::string e = error_text(simt_selftest::tma_box(out.get(), in.get(), false));
  EXPECT_NE(e.find("no fence.mbarrier_init"), std::string::npos) << e;
}

// bar.sync is .aligned: a thread count made of parts of warps is a divergent barrier.
TEST(SimtEmulator, ANamedBarrierReachedByPartsOfWarpsIsRefused) {
  EXPECT_EQ(simt_selftest::named_barrier(false), cudaSuccess);
  const std::string e = error_text(simt_selftest::named_barrier(true));
  EXPECT_NE(e.find("completed with 16 arrivals from warp"), std::string::npos) << e;
  EXPECT_NE(e.find("which has 32 running lanes"), std::string::npos) << e;
}

TEST(SimtEmulator, BlocksRunInAnOrderThatChangesWithTheSeed) {
  constexpr int kBlocks = 64;
  std::vector<std::vector<int>> orders;
  for (std::uint64_t seed : {1, 2}) {
    simt::set_schedule_seed(seed);
    Ints out(kBlocks), ticket(1);
    ticket.fill_bytes(0);
    ASSERT_EQ(simt_selftest::block_order(out.get(), ticket.get(), kBlocks), cudaSuccess);
    std::vector<int> o = read(out);
    std::vector<int> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    for (int b = 0; b < kBlocks; ++b) ASSERT_EQ(sorted[static_cast<std::size_t>(b)], b) << "every block ran once";
    orders.push_back(o);
  }
  EXPECT_NE(orders[0], orders[1]);
}

// Half the blocks run their threads in a random order, half let the warp ranked first
// run ahead (scheduler.cpp, rank_warps): both must happen, or a whole class of races
// (a warp reading what another overwrites after its wait) goes unseen.
TEST(SimtEmulator, BlocksRunThreadsAtRandomOrOneWarpAhead) {
  constexpr int kBlocks = 32, kThreads = 128;
  Ints out(kBlocks * kThreads), tickets(kBlocks);
  tickets.fill_bytes(0);
  ASSERT_EQ(simt_selftest::thread_order(out.get(), tickets.get(), kBlocks, kThreads), cudaSuccess);
  const std::vector<int> order = read(out);
  int warp_ahead = 0, mixed = 0;
  for (int b = 0; b < kBlocks; ++b) {
    std::set<int> first_warps;  // the warps of the block's first 32 threads to run
    for (int t = 0; t < kThreads; ++t)
      if (order[static_cast<std::size_t>(b * kThreads + t)] < 32) first_warps.insert(t / 32);
    ASSERT_FALSE(first_warps.empty()) << "block " << b << " handed out no ticket below 32";
    ++(first_warps.size() == 1 ? warp_ahead : mixed);
  }
  EXPECT_GT(warp_ahead, 0) << "no block let one warp run ahead";
  EXPECT_GT(mixed, 0) << "no block interleaved its warps";
}

}  // namespace
