// The SIMT emulator's scheduler (scheduler.h): one ucontext fiber per CUDA thread, a
// block at a time, the ready fibers run in a seeded random order, each until it reaches
// a barrier, a warp operation or its end.
#include "scheduler.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

namespace simt {

namespace {

// 256 KB of stack a thread (reserved, touched only as used) below a guard page: kernel
// code keeps its arrays in registers on a GPU, here they are on this stack.
constexpr std::size_t kStackBytes = 256 * 1024;
constexpr std::size_t kGuardBytes = 4096;
constexpr int kMaxThreads = 1024;
constexpr unsigned char kFill = 0xFF;  // shared memory at a block's start: NaN as a float, the largest key
constexpr std::uint64_t kPoison = 0xFFF8DEADBEEFDEADull;  // a shuffle's value from a lane not taking part

enum class State { ready, barrier, warp, done, failed };

struct Fiber {
  ucontext_t ctx;
  State state = State::done;
  ThreadPlace place;
  int lane = 0, warp = 0;
};

struct PendingOp {
  WarpOp op = WarpOp::sync;
  unsigned mask = 0, arrived = 0;
  int width = 32;
};

struct Warp {
  std::vector<PendingOp> pending;  // lanes of one warp may wait in disjoint sub-warp ops
  std::uint64_t value[32] = {}, result[32] = {};
  int param[32] = {};
  unsigned present = 0;  // lanes that exist (the last warp of an odd-sized block is partial)
};

struct SharedBlock {
  std::unique_ptr<unsigned char[]> bytes;
  std::size_t size = 0;
  unsigned char* aligned = nullptr;
};

struct Launch {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  std::vector<int> ready, at_barrier;
  int current = -1, in_warp = 0, done = 0;
  const std::function<void()>* body = nullptr;
  std::string error;
  std::map<std::pair<int, std::size_t>, SharedBlock> shared;
  SharedBlock dynamic;
  std::mt19937_64 rng;
};

Launch* g_launch = nullptr;
std::string (*g_describe)(const void*) = nullptr;
std::uint64_t g_seed = 0;
bool g_seed_set = false;
std::uint64_t g_switches = 0;

std::uint64_t schedule_seed() {
  if (!g_seed_set) {
    const char* s = std::getenv("DSA_SIMT_SEED");
    g_seed = s != nullptr ? std::strtoull(s, nullptr, 10) : 1;
    g_seed_set = true;
  }
  return g_seed;
}

// Stacks, made once and reused by every launch.
char* stack_of(int i) {
  static std::vector<char*> stacks;
  while (static_cast<int>(stacks.size()) <= i) {
    void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) std::abort();
    mprotect(p, kGuardBytes, PROT_NONE);  // an overflowing thread faults here instead of corrupting its neighbour
    stacks.push_back(static_cast<char*>(p) + kGuardBytes);
  }
  return stacks[static_cast<std::size_t>(i)];
}

void alloc_filled(SharedBlock& b, std::size_t bytes) {
  if (b.size < bytes || !b.bytes) {
    b.bytes.reset(new unsigned char[bytes + 128]);
    b.size = bytes;
    const auto addr = reinterpret_cast<std::uintptr_t>(b.bytes.get());
    b.aligned = b.bytes.get() + ((128 - addr % 128) % 128);
  }
  std::memset(b.aligned, kFill, bytes);
}

Fiber& current() { return g_launch->fibers[static_cast<std::size_t>(g_launch->current)]; }

// Back to the scheduler; returns when this fiber is picked again.
void yield_to_scheduler() {
  ++g_switches;
  Fiber& f = current();
  swapcontext(&f.ctx, &g_launch->scheduler);
}

void fiber_entry() {
  (*g_launch->body)();
  Fiber& f = current();
  f.state = State::done;
  ++g_launch->done;
  // Returning resumes uc_link: the scheduler.
}

std::string lanes_of(unsigned mask) {
  std::ostringstream s;
  s << "0x" << std::hex << mask;
  return s.str();
}

std::string place_of(const Fiber& f) {
  std::ostringstream s;
  s << "block (" << f.place.block.x << "," << f.place.block.y << "," << f.place.block.z << ") thread ("
    << f.place.thread.x << "," << f.place.thread.y << "," << f.place.thread.z << ")";
  return s.str();
}

// Why no thread can go on: the threads at the block barrier and the warp operations that
// wait for lanes that will never come.
std::string deadlock_report(const Launch& l) {
  std::ostringstream s;
  s << "deadlock: " << l.at_barrier.size() << " thread(s) at __syncthreads, " << l.done << " finished";
  for (std::size_t w = 0; w < l.warps.size(); ++w)
    for (const PendingOp& op : l.warps[w].pending)
      s << "; warp " << w << " lanes " << lanes_of(op.arrived) << " wait in " << warp_op_name(op.op) << " (mask "
        << lanes_of(op.mask) << ") for lanes " << lanes_of(op.mask & ~op.arrived);
  if (!l.fibers.empty()) {
    const Dim& b = l.fibers[0].place.block;
    s << " (in block (" << b.x << "," << b.y << "," << b.z << "))";
  }
  return s.str();
}

void complete(Warp& w, const PendingOp& op) {
  const int width = op.width;
  for (int lane = 0; lane < 32; ++lane) {
    if (!((op.mask >> lane) & 1u)) continue;
    const int base = lane & ~(width - 1);
    int src = lane;
    std::uint64_t r = 0;
    switch (op.op) {
      case WarpOp::sync: break;
      case WarpOp::shfl_idx: src = base + (w.param[lane] & (width - 1)); break;
      case WarpOp::shfl_up: src = lane - w.param[lane] >= base ? lane - w.param[lane] : lane; break;
      case WarpOp::shfl_down: src = lane + w.param[lane] < base + width ? lane + w.param[lane] : lane; break;
      case WarpOp::shfl_xor: src = (lane ^ w.param[lane]) < base + width ? lane ^ w.param[lane] : lane; break;
      case WarpOp::ballot:
        for (int j = 0; j < 32; ++j)
          if (((op.mask >> j) & 1u) && w.value[j] != 0) r |= 1ull << j;
        break;
      case WarpOp::all:
        r = 1;
        for (int j = 0; j < 32; ++j)
          if (((op.mask >> j) & 1u) && w.value[j] == 0) r = 0;
        break;
      case WarpOp::any:
        for (int j = 0; j < 32; ++j)
          if (((op.mask >> j) & 1u) && w.value[j] != 0) r = 1;
        break;
      case WarpOp::match_any:
        for (int j = 0; j < 32; ++j)
          if (((op.mask >> j) & 1u) && w.value[j] == w.value[lane]) r |= 1ull << j;
        break;
    }
    if (op.op == WarpOp::shfl_idx || op.op == WarpOp::shfl_up || op.op == WarpOp::shfl_down ||
        op.op == WarpOp::shfl_xor)
      r = ((op.mask >> src) & 1u) ? w.value[src] : kPoison;
    w.result[lane] = r;
  }
}

// A thread's out-of-bounds access or stack overflow: the launch fails with where and
// what, and the next launch runs (a GPU's kernel would end with an illegal address).
// The handler runs on its own stack and jumps back to the scheduler.
void on_fault(int sig, siginfo_t* info, void*) {
  Launch* l = g_launch;
  if (l == nullptr || l->current < 0) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  Fiber& f = l->fibers[static_cast<std::size_t>(l->current)];
  std::ostringstream s;
  s << (sig == SIGSEGV ? "memory fault" : "bus error") << " at " << info->si_addr;
  if (g_describe != nullptr) s << " (" << g_describe(info->si_addr) << ")";
  if (l->error.empty()) l->error = s.str() + " (" + place_of(f) + ")";
  f.state = State::failed;
  setcontext(&l->scheduler);
}

// Installs on_fault for the launch; restores what was there after it.
class FaultHandler {
 public:
  FaultHandler() {
    static std::vector<char> alt(1 << 16);
    stack_t ss{};
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    sigaltstack(&ss, &old_stack_);
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv_);
    sigaction(SIGBUS, &sa, &old_bus_);
  }
  ~FaultHandler() {
    sigaction(SIGSEGV, &old_segv_, nullptr);
    sigaction(SIGBUS, &old_bus_, nullptr);
    sigaltstack(&old_stack_, nullptr);
  }
  FaultHandler(const FaultHandler&) = delete;
  FaultHandler& operator=(const FaultHandler&) = delete;

 private:
  struct sigaction old_segv_ {}, old_bus_ {};
  stack_t old_stack_{};
};

void make_ready(int i) {
  g_launch->fibers[static_cast<std::size_t>(i)].state = State::ready;
  g_launch->ready.push_back(i);
}

// Runs fiber i until it waits or ends. Its own function: swapcontext returns twice
// (into the fiber, and back here), which no local of the caller's loop may straddle.
__attribute__((noinline)) void resume(Launch& l, int i) {
  l.current = i;
  ++g_switches;
  swapcontext(&l.scheduler, &l.fibers[static_cast<std::size_t>(i)].ctx);
}

// Fiber i's context, to start at fiber_entry on its own stack (getcontext, too, returns
// twice: kept out of the caller's loop).
__attribute__((noinline)) void make_context(Launch& l, int i) {
  Fiber& f = l.fibers[static_cast<std::size_t>(i)];
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = stack_of(i);
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = &l.scheduler;
  makecontext(&f.ctx, fiber_entry, 0);
}

// Runs one block; false when the launch failed.
bool run_block(Launch& l, Dim block_idx, Dim block_dim, Dim grid_dim, std::size_t dynamic_bytes) {
  const int n = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
  l.fibers.assign(static_cast<std::size_t>(n), Fiber{});
  l.warps.assign(static_cast<std::size_t>((n + 31) / 32), Warp{});
  l.ready.clear();
  l.at_barrier.clear();
  l.in_warp = 0;
  l.done = 0;
  for (auto& [key, b] : l.shared) std::memset(b.aligned, kFill, b.size);
  if (dynamic_bytes > 0) alloc_filled(l.dynamic, dynamic_bytes);
  for (int i = 0; i < n; ++i) {
    Fiber& f = l.fibers[static_cast<std::size_t>(i)];
    f.place.thread = {static_cast<unsigned>(i) % block_dim.x, static_cast<unsigned>(i) / block_dim.x % block_dim.y,
                      static_cast<unsigned>(i) / (block_dim.x * block_dim.y)};
    f.place.block = block_idx;
    f.place.block_dim = block_dim;
    f.place.grid_dim = grid_dim;
    f.lane = i % 32;
    f.warp = i / 32;
    l.warps[static_cast<std::size_t>(f.warp)].present |= 1u << f.lane;
    make_context(l, i);
    make_ready(i);
  }
  for (;;) {
    if (!l.error.empty()) return false;
    if (l.ready.empty()) {
      if (l.done == n) return true;
      if (l.in_warp == 0 && !l.at_barrier.empty()) {  // every running thread is at the barrier
        for (int i : l.at_barrier) make_ready(i);
        l.at_barrier.clear();
        continue;
      }
      l.error = deadlock_report(l);
      return false;
    }
    const std::size_t pick = static_cast<std::size_t>(l.rng() % l.ready.size());
    const int i = l.ready[pick];
    l.ready[pick] = l.ready.back();
    l.ready.pop_back();
    resume(l, i);
  }
}

}  // namespace

const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::match_any: return "__match_any_sync";
  }
  return "?";
}

const ThreadPlace& here() {
  if (g_launch == nullptr || g_launch->current < 0) fail("device code called outside a launch");
  return current().place;
}

void fail(const std::string& what) {
  if (g_launch == nullptr) {
    std::fprintf(stderr, "simt: %s (outside a launch)\n", what.c_str());
    std::abort();
  }
  Fiber& f = current();
  if (g_launch->error.empty()) g_launch->error = what + " (" + place_of(f) + ")";
  f.state = State::failed;
  yield_to_scheduler();  // never resumed: the launch ends
  std::abort();
}

int block_rank(int threads, const char* collective) {
  const ThreadPlace& p = here();
  if (p.block_dim.x * p.block_dim.y * p.block_dim.z != static_cast<unsigned>(threads))
    fail(std::string(collective) + " for " + std::to_string(threads) + " threads in a block of another size");
  return static_cast<int>(p.thread.x + p.block_dim.x * (p.thread.y + p.block_dim.y * p.thread.z));
}

void block_barrier() {
  Fiber& f = current();
  f.state = State::barrier;
  g_launch->at_barrier.push_back(g_launch->current);
  yield_to_scheduler();
}

std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int param, int width) {
  Launch& l = *g_launch;
  Fiber& f = current();
  Warp& w = l.warps[static_cast<std::size_t>(f.warp)];
  const std::string who = std::string(warp_op_name(op)) + " (mask " + lanes_of(mask) + ")";
  if (!((mask >> f.lane) & 1u)) fail("lane " + std::to_string(f.lane) + " calls " + who + ", which leaves it out");
  if ((mask & ~w.present) != 0) fail(who + " names lanes " + lanes_of(mask & ~w.present) + " that the block does not have");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) fail(who + ": width " + std::to_string(width) + " is not a power of 2 up to 32");
  PendingOp* pending = nullptr;
  for (PendingOp& p : w.pending) {
    if (p.mask == mask) {
      if (p.op != op || p.width != width)
        fail("lanes of warp " + std::to_string(f.warp) + " disagree: lane " + std::to_string(f.lane) + " calls " + who +
             " while lanes " + lanes_of(p.arrived) + " wait in " + warp_op_name(p.op));
      pending = &p;
    } else if ((p.mask & mask) != 0) {
      fail("lane " + std::to_string(f.lane) + " calls " + who + " while lanes " + lanes_of(p.arrived) + " wait in " +
           warp_op_name(p.op) + " with the overlapping mask " + lanes_of(p.mask));
    }
  }
  if (pending == nullptr) {
    w.pending.push_back(PendingOp{op, mask, 0, width});
    pending = &w.pending.back();
  }
  w.value[f.lane] = value;
  w.param[f.lane] = param;
  pending->arrived |= 1u << f.lane;
  if (pending->arrived == mask) {
    const PendingOp done = *pending;
    w.pending.erase(w.pending.begin() + (pending - w.pending.data()));
    complete(w, done);
    for (int lane = 0; lane < 32; ++lane) {
      if (lane == f.lane || !((done.mask >> lane) & 1u)) continue;
      make_ready(f.warp * 32 + lane);
      --l.in_warp;
    }
    make_ready(l.current);  // this lane too goes back among the ready ones: any of them may run next
  } else {
    f.state = State::warp;
    ++l.in_warp;
  }
  yield_to_scheduler();
  return w.result[f.lane];
}

void* block_shared(int id, std::size_t bytes, std::size_t align) {
  Launch& l = *g_launch;
  if (align > 128) fail("shared memory aligned beyond 128 bytes");
  SharedBlock& b = l.shared[{id, bytes}];
  if (!b.bytes) alloc_filled(b, bytes);  // later blocks refill it in run_block
  return b.aligned;
}

void* dynamic_shared() { return g_launch->dynamic.aligned; }

std::string run_grid(Dim grid, Dim block, std::size_t dynamic_bytes, const std::function<void()>& body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > static_cast<unsigned long long>(kMaxThreads))
    return "cudaErrorInvalidConfiguration: " + std::to_string(threads) + " threads per block (1 to 1024)";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535)
    return "cudaErrorInvalidConfiguration: grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
           std::to_string(grid.z) + ")";
  if (g_launch != nullptr) return "a launch from device code (not emulated)";
  Launch l;
  l.body = &body;
  const FaultHandler faults;
  l.rng.seed(schedule_seed() * 0x9E3779B97F4A7C15ull + g_switches);
  g_launch = &l;
  // Blocks in a random order too: a kernel may not rely on any.
  std::vector<std::uint64_t> order(1ull * grid.x * grid.y * grid.z);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), l.rng);
  for (const std::uint64_t b : order) {
    const Dim idx{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                  static_cast<unsigned>(b / (1ull * grid.x * grid.y))};
    if (!run_block(l, idx, block, grid, dynamic_bytes)) break;
  }
  g_launch = nullptr;
  return l.error;
}

void set_schedule_seed(std::uint64_t seed) {
  g_seed = seed;
  g_seed_set = true;
}

std::uint64_t switches() { return g_switches; }

void set_address_describer(std::string (*describe)(const void* address)) { g_describe = describe; }

}  // namespace simt
