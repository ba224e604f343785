// The SIMT emulator's scheduler: runs a CUDA kernel's blocks on the CPU, every thread of
// a block a fiber of its own, so the project's plain-CUDA kernels (no inline PTX, no
// tensor cores: the top-k family) are checked in CI, where there is no GPU.
//
// Why: GPU time is rare for this project, and a kernel first run on a GPU that fails
// costs a session. The emulator catches what is logic: wrong indices, a barrier or a
// warp vote some threads never reach, shared memory read before it is written (it is
// filled with a pattern at each block's start), one thread's result read by another
// without a barrier between (the ready threads run in a seeded random order, so such a
// race changes the output from one order to the next), a launch over the shared-memory
// limits, a tensor-core read of shared memory no proxy fence has published
// (proxy_fence below). It does not emulate timing, the rest of the memory model's weak
// ordering, or anything beyond the intrinsics below: a pass here is not a GPU validation.
//
// Blocks run one after another (a valid schedule: CUDA promises no concurrency between
// blocks), so a kernel whose blocks wait on each other would hang here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace simt {

struct Dim {
  unsigned x = 1, y = 1, z = 1;
};

// Kinds of warp-wide operations: every lane named in the mask must reach the same one.
enum class WarpOp : int { sync, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, all, any, match_any };
const char* warp_op_name(WarpOp op);

// Where the running fiber is: the values behind threadIdx and friends.
struct ThreadPlace {
  Dim thread, block, block_dim, grid_dim;
};
const ThreadPlace& here();

// The running thread's rank in its block, for a block-wide collective written for
// `threads` threads (CUB's stand-ins); a block of another size fails the launch.
int block_rank(int threads, const char* collective);

// Lets the other ready threads run first (a polling loop's step).
void yield_now();

// Block-wide barrier (__syncthreads): returns when every thread of the block still
// running has reached it.
void block_barrier();

// A warp-wide operation: waits for every lane in `mask`, then returns this lane's
// result. `value` is the lane's operand's bits, `param` the lane's source lane, delta,
// xor mask, or width-packed argument (see simt.h).
std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width);

// Shared memory is one window per block, as on the GPU, so shared addresses
// (__cvta_generic_to_shared, the tensor cores' descriptors) work: the dynamic part
// starts at byte 1040 (past the 1 KB an sm_90 block reserves, not 1024-aligned, so
// the kernels' alignment slack is exercised), the __shared__ variables follow it. All
// bytes are 0xFF at each block's start (NaN as a float, the largest key), so a read of
// what no thread wrote shows.
// Storage for one __shared__ declaration (`id` names it), the same for every thread
// of the running block.
void* block_shared(int id, std::size_t bytes, std::size_t align);
// The launch's dynamic shared memory.
void* dynamic_shared();
// A generic pointer into the window as a shared address, and back (range-checked: a
// pointer outside the window, or bytes past its end, fail the launch).
std::uint32_t shared_offset(const void* p);
void* shared_pointer(std::uint32_t offset, std::size_t bytes);

// The async proxy's view of shared memory (the tensor cores' operand reads, TMA): on the
// GPU a plain store (or a cp.async) reaches it only through a fence.proxy.async, so the
// emulator keeps a second copy of the window that only such a fence brings up to date
// (every store so far, by any thread: lenient where a fence by one thread covers
// another's store, strict where no fence comes between a store and the read). A TMA
// landing writes both copies. async_view_stale() names the first byte of [offset,
// offset + bytes) whose two copies differ, or returns -1.
void proxy_fence();
void async_proxy_wrote(std::uint32_t offset, std::size_t bytes);
long long async_view_stale(std::uint32_t offset, std::size_t bytes);

// Named barrier `id` (bar.sync / bar.arrive) over `threads` threads: `wait` false
// counts this thread in and goes on.
void named_barrier(int id, int threads, bool wait);

// A collective of the `group` consecutive threads (32: a warp, 128: a warpgroup) that
// hold this thread: each deposits `mine`; the last to arrive calls run() with all of
// the group's deposits in rank order; then every thread goes on. `what` names the
// operation; threads of one group in different collectives fail the launch.
void group_collective(int group, const char* what, void* mine, void (*run)(void* const* deposits, int count));

// Shared-memory barriers (mbarrier), keyed by their shared address: init, arrive
// (with transaction bytes expected), transaction bytes landed, and the wait for the
// phase of a parity (blocking; a wait no arrival will end is reported as a deadlock).
// mbarrier_defer: asynchronous work that ends in an arrival (arrive: one of the count)
// or in `tx_bytes` landed (a TMA box): `land` does its copies. It is done as late as
// the hardware may do it: when a thread waits for the phase it completes (or tests
// it), in the order it was issued, and only as much of it as that phase needs, so data
// read without that wait is stale.
// A bulk copy (TMA) may complete only on an mbarrier whose initialising thread has
// since run fence.mbarrier_init (mbarrier_init_fence) or fence.proxy.async.
void mbarrier_init(std::uint32_t bar, std::uint32_t count);
void mbarrier_init_fence();
void mbarrier_defer(std::uint32_t bar, std::function<void()> land, bool arrive, std::uint32_t tx_bytes);
void mbarrier_arrive(std::uint32_t bar, std::uint32_t expect_tx_bytes);
void mbarrier_complete_tx(std::uint32_t bar, std::uint32_t bytes);
void mbarrier_wait(std::uint32_t bar, std::uint32_t parity);
bool mbarrier_test(std::uint32_t bar, std::uint32_t parity);

// What a thread has in flight (cp.async copies, wgmma operations), kept per thread by
// the scheduler and reset at each block's start; tensor_core.h fills it.
struct AsyncCopy {
  void* dst;
  const void* src;
  int bytes, src_bytes;
  bool landed = false;  // a copy lands once: at its group's wait or its mbarrier's, whichever comes first
};
using AsyncCopies = std::vector<std::shared_ptr<AsyncCopy>>;
// One thread's part of a warpgroup MMA (wgmma.mma_async), kept until the wait that
// retires its group (tensor_core.cpp runs it then, from all 128 threads' parts).
struct WgmmaOp {
  int shape = 0;  // tensor_core.h's WgmmaShape
  float* d = nullptr;
  std::uint64_t desc_a = 0, desc_b = 0;
  std::uint32_t a[4] = {};  // the A fragment, for the register-A form
  int accumulate = 0;
  // The accumulators as issued, when no earlier operation in flight shares them (the
  // first of a chain): they must be the same at the wait that runs it.
  bool d_kept = false;
  float d_at_issue[128] = {};
};
struct ThreadAsync {
  AsyncCopies copies_open;                 // since the last cp.async.commit_group
  std::vector<AsyncCopies> copies_groups;  // committed, oldest first
  std::vector<WgmmaOp> mma_open;
  std::vector<std::vector<WgmmaOp>> mma_groups;
  bool mma_fenced = false;  // a wgmma.fence since this thread's last wgmma.wait_group
};
ThreadAsync& thread_async();
// The running thread's rank in its block.
int thread_rank();

// A thread's wrong use of the model (a lane outside its own mask, lanes of a warp in
// different operations): ends the launch with this message.
[[noreturn]] void fail(const std::string& what);

// Runs `body` for every thread of every block. Returns an empty string, or why the launch
// failed (the launch's error, as a GPU would report it, with the emulator's reason).
std::string run_grid(Dim grid, Dim block, std::size_t dynamic_bytes, const std::function<void()>& body);

// The seed of the order in which ready threads run (environment DSA_SIMT_SEED, else 1);
// tests set it to run one kernel under several orders.
void set_schedule_seed(std::uint64_t seed);

// Names an address for a memory fault's message (the runtime knows the allocations).
void set_address_describer(std::string (*describe)(const void* address));

// Context switches so far (for the test's own report of what it exercised).
std::uint64_t switches();

}  // namespace simt
