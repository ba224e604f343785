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
// limits. It does not emulate timing, the memory model's weak ordering, or anything
// beyond the intrinsics below: a pass here is not a GPU validation.
//
// Blocks run one after another (a valid schedule: CUDA promises no concurrency between
// blocks), so a kernel whose blocks wait on each other would hang here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

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

// Block-wide barrier (__syncthreads): returns when every thread of the block still
// running has reached it.
void block_barrier();

// A warp-wide operation: waits for every lane in `mask`, then returns this lane's
// result. `value` is the lane's operand's bits, `param` the lane's source lane, delta,
// xor mask, or width-packed argument (see simt.h).
std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width);

// Storage shared by the block: the same bytes for every thread of the running block,
// filled with 0xA5 when first asked for in a block. `id` names the declaration.
void* block_shared(int id, std::size_t bytes, std::size_t align);
// The launch's dynamic shared memory (filled likewise).
void* dynamic_shared();

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
