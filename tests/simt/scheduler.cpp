// The SIMT emulator's scheduler (scheduler.h): one fiber (context.h) per CUDA thread, a
// block at a time, the ready fibers run in a seeded random order, each until it reaches
// a barrier, a warp operation or its end.
#include "scheduler.h"

#include "context.h"

#include <signal.h>
#include <sys/mman.h>

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
constexpr std::size_t kWindow = 256 * 1024;          // the shared addresses a descriptor can name (18 bits)
constexpr std::size_t kDynamicAt = 1040;             // past the block's reserved 1 KB, 16- but not 1024-aligned
constexpr std::size_t kBlockLimit = 227 * 1024;      // dynamic + static shared memory of one block
constexpr std::uint64_t kPoison = 0xFFF8DEADBEEFDEADull;  // a shuffle's value from a lane not taking part

enum class State { ready, barrier, waiting, done, failed };

// What a waiting thread waits in, kept as parts and worded only for a deadlock's
// report: a string built at every wait cost more than the wait.
struct WaitsIn {
  enum Kind { nothing, named_barrier, collective, mbarrier } kind = nothing;
  const char* collective_name = nullptr;
  std::uint32_t a = 0, b = 0;  // barrier id and threads; mbarrier address and parity

  std::string words() const {
    switch (kind) {
      case nothing: return "";
      case named_barrier: return "bar.sync " + std::to_string(a) + " (" + std::to_string(b) + " threads)";
      case collective: return collective_name;
      case mbarrier:
        return "mbarrier wait (shared address " + std::to_string(a) + ", parity " + std::to_string(b) + ")";
    }
    return "";
  }
};

struct Fiber {
  Context ctx;
  State state = State::done;
  ThreadPlace place;
  int lane = 0, warp = 0;
  ThreadAsync async;
  WaitsIn waits_in;  // what a waiting thread waits in, for a deadlock's report
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

struct NamedBarrier {
  int threads = 0, arrived = 0;
  std::vector<int> waiting;
  std::map<int, int> lanes;  // this phase's arrivals by warp
};

struct Collective {
  const char* what = nullptr;
  int arrived = 0;
  std::vector<void*> deposits;
  std::vector<int> waiting;
};

struct Landing {
  std::function<void()> land;
  bool arrive;
  std::uint32_t tx;
};

struct MBarrier {
  std::uint32_t count = 0, pending = 0, phase = 0;
  int init_by = -1;             // the thread whose mbarrier.init made it
  bool async_visible = false;   // that thread's fence.mbarrier_init (or fence.proxy.async) since
  long long tx = 0;
  std::vector<std::pair<int, std::uint32_t>> waiting;  // fiber, parity
  std::vector<Landing> deferred;                       // oldest first
};

// The ready threads, kept by warp so that picking the highest-ranked warp's thread
// (rank_warps) costs one look at each warp instead of one at each ready thread: with
// 1,024-thread blocks that scan was a third of an emulated model forward.
class ReadySet {
 public:
  void reset(std::size_t warps) {
    by_warp_.assign(warps, {});
    total_ = 0;
  }
  void push(int warp, int fiber) {
    by_warp_[static_cast<std::size_t>(warp)].push_back(fiber);
    ++total_;
  }
  bool empty() const { return total_ == 0; }
  // A ready thread chosen by r among all of them (counting warp by warp), taken out.
  int take_any(std::uint64_t r) {
    r %= total_;
    for (std::size_t w = 0;; ++w) {
      if (r < by_warp_[w].size()) return take(w, static_cast<std::size_t>(r));
      r -= by_warp_[w].size();
    }
  }
  // A ready thread, chosen by r, of the warp with the highest rank among those with one.
  int take_from_top(const std::vector<std::uint64_t>& rank, std::uint64_t r) {
    std::size_t top = by_warp_.size();
    for (std::size_t w = 0; w < by_warp_.size(); ++w)
      if (!by_warp_[w].empty() && (top == by_warp_.size() || rank[w] > rank[top])) top = w;
    return take(top, static_cast<std::size_t>(r % by_warp_[top].size()));
  }

 private:
  int take(std::size_t w, std::size_t k) {
    std::vector<int>& v = by_warp_[w];
    const int fiber = v[k];
    v[k] = v.back();
    v.pop_back();
    --total_;
    return fiber;
  }
  std::vector<std::vector<int>> by_warp_;
  std::size_t total_ = 0;
};

struct Launch {
  Context scheduler;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  ReadySet ready;
  std::vector<int> at_barrier;
  int current = -1, waiting = 0, done = 0;
  const std::function<void()>* body = nullptr;
  std::string error;
  // The block's shared-memory window (kWindow bytes, 1024-aligned) and where its
  // __shared__ variables went.
  std::unique_ptr<unsigned char[]> window_bytes;
  unsigned char* window = nullptr;
  std::unique_ptr<unsigned char[]> async_view;  // the window as the async proxy sees it (proxy_fence)
  std::size_t dynamic_bytes = 0, static_end = 0;
  // How much of the window (and of the async view) a block starts by filling: all of it
  // for the first block, then as far as the block before it had shared memory. Filling
  // all 512 KB for each block of a small kernel was a twentieth of a model test's time.
  std::size_t refill_end = kWindow;
  std::map<int, std::size_t> statics;
  std::map<int, NamedBarrier> named;
  std::map<std::pair<int, int>, Collective> collectives;  // (group size, group index)
  std::map<std::uint32_t, MBarrier> mbarriers;
  bool warp_lead = false;                 // this block's order: one warp ahead (rank_warps)
  std::vector<std::uint64_t> warp_rank;   // per warp
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

Fiber& current() { return g_launch->fibers[static_cast<std::size_t>(g_launch->current)]; }

// Back to the scheduler; returns when this fiber is picked again.
void yield_to_scheduler() {
  ++g_switches;
  Fiber& f = current();
  context_switch(f.ctx, g_launch->scheduler);
}

// A fiber's start: the kernel's body for this thread, then back to the scheduler for
// good (the fiber is not resumed after it is done).
void fiber_entry() {
  (*g_launch->body)();
  Fiber& f = current();
  f.state = State::done;
  ++g_launch->done;
  context_switch(f.ctx, g_launch->scheduler);
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

// Why no thread can go on: the threads at the block barrier, the warp operations that
// wait for lanes that will never come, and what the other waiting threads wait in.
std::string deadlock_report(const Launch& l) {
  std::ostringstream s;
  s << "deadlock: " << l.at_barrier.size() << " thread(s) at __syncthreads, " << l.done << " finished";
  for (std::size_t w = 0; w < l.warps.size(); ++w)
    for (const PendingOp& op : l.warps[w].pending)
      s << "; warp " << w << " lanes " << lanes_of(op.arrived) << " wait in " << warp_op_name(op.op) << " (mask "
        << lanes_of(op.mask) << ") for lanes " << lanes_of(op.mask & ~op.arrived);
  std::map<std::string, int> others;
  for (const Fiber& f : l.fibers)
    if (f.state == State::waiting && f.waits_in.kind != WaitsIn::nothing) ++others[f.waits_in.words()];
  for (const auto& [what, n] : others) s << "; " << n << " thread(s) in " << what;
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
  Context dead;  // the faulting fiber is not resumed
  context_switch(dead, l->scheduler);
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
  Fiber& f = g_launch->fibers[static_cast<std::size_t>(i)];
  f.state = State::ready;
  g_launch->ready.push(f.warp, i);
}

// Runs fiber i until it waits or ends.
void resume(Launch& l, int i) {
  l.current = i;
  ++g_switches;
  context_switch(l.scheduler, l.fibers[static_cast<std::size_t>(i)].ctx);
}

// Fiber i's context, to start at fiber_entry on its own stack.
void make_context(Launch& l, int i) {
  context_make(l.fibers[static_cast<std::size_t>(i)].ctx, stack_of(i), kStackBytes, fiber_entry);
}

// Half the blocks run their threads in a uniformly random order (fine interleavings:
// a read racing one other thread's write); the other half let one warp run ahead of
// the rest, the warps ranked at random afresh after every __syncthreads (a warp that
// goes on past its own wait while others still read what it overwrites).
void rank_warps(Launch& l) {
  for (auto& r : l.warp_rank) r = l.rng();
}

// Runs one block; false when the launch failed.
bool run_block(Launch& l, Dim block_idx, Dim block_dim, Dim grid_dim, std::size_t dynamic_bytes) {
  const int n = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
  l.fibers.assign(static_cast<std::size_t>(n), Fiber{});
  l.warps.assign(static_cast<std::size_t>((n + 31) / 32), Warp{});
  l.ready.reset(l.warps.size());
  l.at_barrier.clear();
  l.waiting = 0;
  l.done = 0;
  l.warp_lead = (l.rng() & 1) != 0;
  l.warp_rank.assign(l.warps.size(), 0);
  rank_warps(l);
  std::memset(l.window, kFill, l.refill_end);
  std::memset(l.async_view.get(), kFill, l.refill_end);
  l.dynamic_bytes = dynamic_bytes;
  l.static_end = (kDynamicAt + dynamic_bytes + 15) / 16 * 16;
  l.statics.clear();
  l.named.clear();
  l.collectives.clear();
  l.mbarriers.clear();
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
      if (l.waiting == 0 && !l.at_barrier.empty()) {  // every running thread is at the barrier
        for (int i : l.at_barrier) make_ready(i);
        l.at_barrier.clear();
        rank_warps(l);
        continue;
      }
      l.error = deadlock_report(l);
      return false;
    }
    const std::uint64_t r = l.rng();
    // warp_lead: a random ready thread of the highest-ranked warp that has one.
    resume(l, l.warp_lead ? l.ready.take_from_top(l.warp_rank, r) : l.ready.take_any(r));
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
  if (static_cast<int>(g_launch->fibers.size()) != threads)
    fail(std::string(collective) + " for " + std::to_string(threads) + " threads in a block of another size");
  return g_launch->current;
}

void yield_now() {
  make_ready(g_launch->current);
  yield_to_scheduler();
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
  // Worded only when a check fails: every shuffle passes here.
  const auto who = [&] { return std::string(warp_op_name(op)) + " (mask " + lanes_of(mask) + ")"; };
  if (!((mask >> f.lane) & 1u)) fail("lane " + std::to_string(f.lane) + " calls " + who() + ", which leaves it out");
  if ((mask & ~w.present) != 0) fail(who() + " names lanes " + lanes_of(mask & ~w.present) + " that the block does not have");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) fail(who() + ": width " + std::to_string(width) + " is not a power of 2 up to 32");
  PendingOp* pending = nullptr;
  for (PendingOp& p : w.pending) {
    if (p.mask == mask) {
      if (p.op != op || p.width != width)
        fail("lanes of warp " + std::to_string(f.warp) + " disagree: lane " + std::to_string(f.lane) + " calls " + who() +
             " while lanes " + lanes_of(p.arrived) + " wait in " + warp_op_name(p.op));
      pending = &p;
    } else if ((p.mask & mask) != 0) {
      fail("lane " + std::to_string(f.lane) + " calls " + who() + " while lanes " + lanes_of(p.arrived) + " wait in " +
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
      --l.waiting;
    }
    make_ready(l.current);  // this lane too goes back among the ready ones: any of them may run next
  } else {
    f.state = State::waiting;
    f.waits_in = WaitsIn{};
    ++l.waiting;
  }
  yield_to_scheduler();
  return w.result[f.lane];
}

void* block_shared(int id, std::size_t bytes, std::size_t align) {
  Launch& l = *g_launch;
  const auto it = l.statics.find(id);
  if (it != l.statics.end()) return l.window + it->second;
  const std::size_t a = std::max<std::size_t>(align, 16);
  const std::size_t at = (l.static_end + a - 1) / a * a;
  if (at + bytes - kDynamicAt > kBlockLimit)
    fail("static and dynamic shared memory above the 227 KB of a block (" + std::to_string(at + bytes - kDynamicAt) +
         " bytes)");
  l.statics[id] = at;
  l.static_end = at + bytes;
  return l.window + at;
}

void* dynamic_shared() { return g_launch->window + kDynamicAt; }

std::uint32_t shared_offset(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  if (b < g_launch->window || b >= g_launch->window + kWindow) fail("a shared address of a pointer outside shared memory");
  return static_cast<std::uint32_t>(b - g_launch->window);
}

void* shared_pointer(std::uint32_t offset, std::size_t bytes) {
  if (offset + bytes > kWindow) fail("a shared address beyond the shared-memory window");
  return g_launch->window + offset;
}

void proxy_fence() {
  Launch& l = *g_launch;
  mbarrier_init_fence();  // a proxy fence orders this thread's mbarrier.init too
  // Only the block's shared memory so far: dynamic, then the __shared__ variables.
  std::memcpy(l.async_view.get() + kDynamicAt, l.window + kDynamicAt, l.static_end - kDynamicAt);
}

void async_proxy_wrote(std::uint32_t offset, std::size_t bytes) {
  (void)shared_pointer(offset, bytes);
  std::memcpy(g_launch->async_view.get() + offset, g_launch->window + offset, bytes);
}

long long async_view_stale(std::uint32_t offset, std::size_t bytes) {
  const unsigned char* w = static_cast<const unsigned char*>(shared_pointer(offset, bytes));
  const unsigned char* a = g_launch->async_view.get() + offset;
  if (std::memcmp(w, a, bytes) == 0) return -1;
  for (std::size_t i = 0;; ++i)
    if (w[i] != a[i]) return static_cast<long long>(offset + i);
}

void named_barrier(int id, int threads, bool wait) {
  Launch& l = *g_launch;
  if (id < 0 || id > 15 || threads <= 0 || threads % 32 != 0)
    fail("named barrier " + std::to_string(id) + " over " + std::to_string(threads) + " threads (ids 0-15, warps)");
  NamedBarrier& b = l.named[id];
  if (b.arrived > 0 && b.threads != threads)
    fail("named barrier " + std::to_string(id) + " used with " + std::to_string(threads) + " and " +
         std::to_string(b.threads) + " threads at once");
  b.threads = threads;
  ++b.lanes[current().warp];
  if (++b.arrived == threads) {
    // bar.sync and bar.arrive are .aligned: a warp executes one as a whole, so a phase
    // made of part of a warp's lanes (the rest elsewhere, or arriving twice) is a
    // divergent barrier, undefined on the GPU.
    for (const auto& [warp, count] : b.lanes) {
      int live = 0;
      for (int lane = 0; lane < 32; ++lane) {
        const auto i = static_cast<std::size_t>(warp * 32 + lane);
        live += i < l.fibers.size() && l.fibers[i].state != State::done ? 1 : 0;
      }
      if (count != live)
        fail("named barrier " + std::to_string(id) + " completed with " + std::to_string(count) + " arrivals from warp " +
             std::to_string(warp) + ", which has " + std::to_string(live) +
             " running lanes: bar.sync / bar.arrive are .aligned, every lane of a warp executes them together");
    }
    b.lanes.clear();
    for (int i : b.waiting) {
      make_ready(i);
      --l.waiting;
    }
    b.waiting.clear();
    b.arrived = 0;
    make_ready(l.current);
    yield_to_scheduler();
    return;
  }
  if (!wait) return;
  Fiber& f = current();
  b.waiting.push_back(l.current);
  f.state = State::waiting;
  f.waits_in = WaitsIn{WaitsIn::named_barrier, nullptr, static_cast<std::uint32_t>(id), static_cast<std::uint32_t>(threads)};
  ++l.waiting;
  yield_to_scheduler();
}

void group_collective(int group, const char* what, void* mine, void (*run)(void* const*, int)) {
  Launch& l = *g_launch;
  const int rank = l.current;
  const int n = static_cast<int>(l.fibers.size());
  const int first = rank / group * group;
  const int members = std::min(group, n - first);
  Collective& c = l.collectives[{group, rank / group}];
  if (c.arrived > 0 && c.what != what && std::strcmp(c.what, what) != 0)
    fail(std::string("threads of one group of ") + std::to_string(group) + " in " + what + " and " + c.what + " at once");
  if (c.arrived == 0) {
    c.what = what;
    c.deposits.assign(static_cast<std::size_t>(members), nullptr);
  }
  c.deposits[static_cast<std::size_t>(rank - first)] = mine;
  if (++c.arrived == members) {
    const std::vector<void*> deposits = c.deposits;
    const std::vector<int> waiting = c.waiting;
    l.collectives.erase({group, rank / group});
    run(deposits.data(), members);
    for (int i : waiting) {
      make_ready(i);
      --l.waiting;
    }
    make_ready(l.current);
    yield_to_scheduler();
    return;
  }
  Fiber& f = current();
  c.waiting.push_back(rank);
  f.state = State::waiting;
  f.waits_in = WaitsIn{WaitsIn::collective, what, 0, 0};
  ++l.waiting;
  yield_to_scheduler();
}

namespace {

MBarrier& mbarrier_at(std::uint32_t bar) {
  const auto it = g_launch->mbarriers.find(bar);
  if (it == g_launch->mbarriers.end())
    fail("mbarrier at shared address " + std::to_string(bar) + " used before mbarrier.init");
  return it->second;
}

// Completes the phase if its arrivals and bytes are in; wakes its waiters.
void mbarrier_check_complete(MBarrier& b) {
  if (b.pending != 0 || b.tx != 0) return;
  const std::uint32_t done_parity = b.phase & 1u;
  ++b.phase;
  b.pending = b.count;
  std::vector<std::pair<int, std::uint32_t>> still;
  for (const auto& [fiber, parity] : b.waiting) {
    if (parity == done_parity) {
      make_ready(fiber);
      --g_launch->waiting;
    } else {
      still.emplace_back(fiber, parity);
    }
  }
  b.waiting = still;
}

// Lands deferred work, oldest first, while a thread waits for (or `polled`: tests) the
// current phase and it has not completed.
void mbarrier_settle(MBarrier& b, bool polled = false) {
  while ((polled || !b.waiting.empty()) && !b.deferred.empty()) {
    const std::uint32_t phase = b.phase;
    Landing l = std::move(b.deferred.front());
    b.deferred.erase(b.deferred.begin());
    l.land();
    if (l.arrive) {
      if (b.pending == 0) fail("more arrivals on an mbarrier than its count");
      --b.pending;
    }
    b.tx -= l.tx;
    mbarrier_check_complete(b);
    if (b.phase != phase) break;  // a phase completed: later work waits for a later wait
  }
}

}  // namespace

void mbarrier_init(std::uint32_t bar, std::uint32_t count) {
  if (bar % 8 != 0) fail("mbarrier at a shared address not 8-byte aligned");
  if (count == 0) fail("mbarrier.init with a count of 0");
  MBarrier& b = g_launch->mbarriers[bar];
  b = MBarrier{};
  b.count = b.pending = count;
  b.init_by = g_launch->current;
}

void mbarrier_init_fence() {
  for (auto& [bar, b] : g_launch->mbarriers)
    if (b.init_by == g_launch->current) b.async_visible = true;
}

void mbarrier_arrive(std::uint32_t bar, std::uint32_t expect_tx_bytes) {
  MBarrier& b = mbarrier_at(bar);
  if (b.pending == 0) fail("more arrivals on an mbarrier than its count");
  b.tx += expect_tx_bytes;
  --b.pending;
  mbarrier_check_complete(b);
  mbarrier_settle(b);
}

void mbarrier_complete_tx(std::uint32_t bar, std::uint32_t bytes) {
  MBarrier& b = mbarrier_at(bar);
  b.tx -= bytes;
  mbarrier_check_complete(b);
  mbarrier_settle(b);
}

void mbarrier_defer(std::uint32_t bar, std::function<void()> land, bool arrive, std::uint32_t tx_bytes) {
  MBarrier& b = mbarrier_at(bar);
  if (tx_bytes > 0 && !b.async_visible)
    fail("a bulk copy (TMA) completes on the mbarrier at shared address " + std::to_string(bar) +
         ", whose mbarrier.init no fence.mbarrier_init (or fence.proxy.async) by the initialising thread followed: "
         "the copy unit may not see the initialised barrier");
  b.deferred.push_back(Landing{std::move(land), arrive, tx_bytes});
  mbarrier_settle(b);
}

void mbarrier_wait(std::uint32_t bar, std::uint32_t parity) {
  MBarrier& b = mbarrier_at(bar);
  if ((b.phase & 1u) != (parity & 1u)) return;
  Launch& l = *g_launch;
  b.waiting.emplace_back(l.current, parity & 1u);
  Fiber& f = current();
  f.state = State::waiting;
  f.waits_in = WaitsIn{WaitsIn::mbarrier, nullptr, bar, parity & 1u};
  ++l.waiting;
  mbarrier_settle(b);  // may complete the phase and make this thread ready again
  yield_to_scheduler();
}

// A poll (try_wait) is a wait that gives up: the work its phase needs lands as for one.
bool mbarrier_test(std::uint32_t bar, std::uint32_t parity) {
  MBarrier& b = mbarrier_at(bar);
  if ((b.phase & 1u) == (parity & 1u)) mbarrier_settle(b, true);
  return (b.phase & 1u) != (parity & 1u);
}

ThreadAsync& thread_async() { return current().async; }

int thread_rank() { return g_launch->current; }

std::string run_grid(Dim grid, Dim block, std::size_t dynamic_bytes, const std::function<void()>& body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > static_cast<unsigned long long>(kMaxThreads))
    return "cudaErrorInvalidConfiguration: " + std::to_string(threads) + " threads per block (1 to 1024)";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535)
    return "cudaErrorInvalidConfiguration: grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
           std::to_string(grid.z) + ")";
  if (g_launch != nullptr) return "a launch from device code (not emulated)";
  if (dynamic_bytes > kBlockLimit) return "cudaErrorInvalidValue: dynamic shared memory above the 227 KB of a block";
  Launch l;
  l.body = &body;
  l.window_bytes.reset(new unsigned char[kWindow + 1024]);
  l.window = l.window_bytes.get() + (1024 - reinterpret_cast<std::uintptr_t>(l.window_bytes.get()) % 1024) % 1024;
  l.async_view.reset(new unsigned char[kWindow]);
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
    l.refill_end = l.static_end;  // a kernel writes only the shared memory it has
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
