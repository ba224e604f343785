// The SIMT emulator's tensor-core, asynchronous-copy and barrier instructions
// (tensor_core.h): each warp or warpgroup collective gathers its threads' operands
// through the scheduler (group_collective) and computes in fp32, k in order.
#include "tensor_core.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "scheduler.h"

namespace simt {

namespace {

float bf16_to_float(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// FP8 E4M3 (OCP): bias 7, no infinities, S.1111.111 is NaN.
float e4m3_to_float(std::uint8_t b) {
  const int sign = b >> 7, exp = (b >> 3) & 15, man = b & 7;
  float v;
  if (exp == 15 && man == 7) v = NAN;
  else if (exp == 0) v = std::ldexp(static_cast<float>(man) / 8.0f, -6);
  else v = std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return sign ? -v : v;
}

std::uint16_t half_of(std::uint32_t r, int hi) { return static_cast<std::uint16_t>(hi ? r >> 16 : r & 0xFFFF); }
std::uint8_t byte_of(std::uint32_t r, int i) { return static_cast<std::uint8_t>(r >> (8 * i)); }

// --- mma.sync ----------------------------------------------------------------------

struct MmaLane {
  float* c;
  std::uint32_t a[4], b[2];
};

// D [16 x n] = A [16 x k] B [k x n], all row-major fp32, as both tensor-core forms take
// it: each element sums its k products in order from zero; a row's n sums advance
// together, one k at a time, so the loop over n vectorises without reordering a sum.
// Built twice, the AVX2 copy taken where the CPU has it: 8 sums a step instead of 4 (the
// product was a tenth of an emulated sparse prefill's time, half that now). No FMA in
// either (a separate target), so every sum rounds the same in both.
__attribute__((target_clones("avx2", "default"))) void product_16_rows(const float* A, const float* B, int k, int n, float* D) {
  std::fill(D, D + 16 * n, 0.0f);
  for (int r = 0; r < 16; ++r) {
    float* d = D + r * n;
    for (int kk = 0; kk < k; ++kk) {
      const float a = A[r * k + kk];
      const float* b = B + kk * n;
      for (int j = 0; j < n; ++j) d[j] += a * b[j];
    }
  }
}

// Lane 4 g + tq holds C rows g (c0, c1) and g + 8 (c2, c3) at columns 2 tq + {0, 1}.
// The fragments are decoded once each (not once per product they enter).
template <class AAt, class BAt>
void mma_compute(void* const* lanes, int k_size, AAt a_at, BAt b_at) {
  constexpr int kMaxK = 32;
  if (k_size > kMaxK) fail("an mma.sync shape with K above 32");
  float a[16 * kMaxK], b[kMaxK * 8], out[16][8];
  for (int m = 0; m < 16; ++m)
    for (int k = 0; k < k_size; ++k) a[m * k_size + k] = a_at(lanes, m, k);
  for (int k = 0; k < k_size; ++k)
    for (int n = 0; n < 8; ++n) b[k * 8 + n] = b_at(lanes, k, n);
  product_16_rows(a, b, k_size, 8, &out[0][0]);
  for (int lane = 0; lane < 32; ++lane) {
    auto* l = static_cast<MmaLane*>(lanes[lane]);
    const int g = lane / 4, tq = lane % 4;
    l->c[0] += out[g][2 * tq];
    l->c[1] += out[g][2 * tq + 1];
    l->c[2] += out[g + 8][2 * tq];
    l->c[3] += out[g + 8][2 * tq + 1];
  }
}

const MmaLane& lane_of(void* const* lanes, int lane) { return *static_cast<const MmaLane*>(lanes[lane]); }

// Where an element of an mma.sync fragment lives, for `per` elements a 32-bit register
// (2: bf16, k16; 4: e4m3, k32; K = 8 per). A (row, k): lane 4 (row % 8) + tq with tq =
// (k % (K/2)) / per, register [row >= 8] + 2 [k >= K/2] (a0 .. a3), element k % per of
// it. B (k, column n): lane 4 n + tq, register [k >= K/2] (b0, b1). The wgmma form with
// A in registers takes each warp's A in the same layout.
struct FragPos {
  int lane, reg, elem;
};
FragPos a_fragment(int row, int k, int per) {
  const int half = 4 * per;
  return {4 * (row % 8) + (k % half) / per, (row >= 8 ? 1 : 0) + (k >= half ? 2 : 0), k % per};
}
FragPos b_fragment(int k, int n, int per) {
  const int half = 4 * per;
  return {4 * n + (k % half) / per, k >= half ? 1 : 0, k % per};
}
float fragment_value(std::uint32_t reg, int elem, int per) {
  return per == 2 ? bf16_to_float(half_of(reg, elem)) : e4m3_to_float(byte_of(reg, elem));
}

// mma.sync with kPer elements a register (2: m16n8k16 bf16, 4: m16n8k32 e4m3).
template <int kPer>
void run_mma(void* const* lanes, int count) {
  if (count != 32) fail("mma.sync by a partial warp");
  const auto a_at = [](void* const* ls, int m, int k) {
    const FragPos p = a_fragment(m, k, kPer);
    return fragment_value(lane_of(ls, p.lane).a[p.reg], p.elem, kPer);
  };
  const auto b_at = [](void* const* ls, int k, int n) {
    const FragPos p = b_fragment(k, n, kPer);
    return fragment_value(lane_of(ls, p.lane).b[p.reg], p.elem, kPer);
  };
  mma_compute(lanes, 8 * kPer, a_at, b_at);
}

struct LdmatrixLane {
  std::uint32_t* r;
  const unsigned char* row;
};

// Lane L names row L % 8 of matrix L / 8; with .trans lane 4 g + tq receives, per
// matrix i, elements [2 tq][g] (low half) and [2 tq + 1][g].
void run_ldmatrix_trans(void* const* lanes, int count) {
  if (count != 32) fail("ldmatrix by a partial warp");
  const auto element = [&](int matrix, int row, int col) {
    const auto* l = static_cast<const LdmatrixLane*>(lanes[8 * matrix + row]);
    std::uint16_t h;
    std::memcpy(&h, l->row + 2 * col, 2);
    return static_cast<std::uint32_t>(h);
  };
  std::uint32_t out[32][4];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, tq = lane % 4;
    for (int i = 0; i < 4; ++i) out[lane][i] = element(i, 2 * tq, g) | (element(i, 2 * tq + 1, g) << 16);
  }
  for (int lane = 0; lane < 32; ++lane)
    std::memcpy(static_cast<LdmatrixLane*>(lanes[lane])->r, out[lane], sizeof out[lane]);
}

// --- cp.async ----------------------------------------------------------------------

void land(AsyncCopy& c) {
  if (c.landed) return;
  unsigned char buf[16] = {};
  if (c.src_bytes > 0) std::memcpy(buf, c.src, static_cast<std::size_t>(c.src_bytes));
  std::memcpy(c.dst, buf, static_cast<std::size_t>(c.bytes));
  c.landed = true;
}

// --- wgmma -------------------------------------------------------------------------

struct ShapeInfo {
  int n, k, elem;  // N, K, bytes per element
  bool b_mn_major, a_registers;
};

ShapeInfo info_of(int shape) {
  switch (shape) {
    case wgmma_m64n128k32_e4m3: return {128, 32, 1, false, false};
    case wgmma_m64n32k16_bf16: return {32, 16, 2, false, false};
    case wgmma_m64n64k16_bf16: return {64, 16, 2, false, false};
    case wgmma_m64n256k16_bf16_bt: return {256, 16, 2, true, false};
    case wgmma_m64n128k16_bf16: return {128, 16, 2, false, false};
    case wgmma_m64n128k16_bf16_rs_bt: return {128, 16, 2, true, true};
  }
  fail("a wgmma shape the emulator does not know");
}

// Accumulator registers a thread holds: 64 x N floats over 128 threads.
int accumulators(int shape) { return info_of(shape).n / 2; }

struct Desc {
  std::uint32_t start, leading, stride;
};

Desc decode(std::uint64_t d) {
  if ((d >> 62) != 1) fail("a wgmma descriptor without the 128-byte swizzle (the only one emulated)");
  if (((d >> 49) & 7) != 0) fail("a wgmma descriptor with a base offset (not emulated)");
  return {static_cast<std::uint32_t>((d & 0x3FFF) << 4), static_cast<std::uint32_t>(((d >> 16) & 0x3FFF) << 4),
          static_cast<std::uint32_t>(((d >> 32) & 0x3FFF) << 4)};
}

// The 128-byte swizzle on a shared address: bits 4-6 XOR bits 7-9.
std::uint32_t swizzle128(std::uint32_t a) { return a ^ (((a >> 7) & 7u) << 4); }

// Where element (row m, k) of a K-major A and element (k, n) of B sit, before the
// swizzle. K-major: row m, 128 bytes of K a row, groups of 8 rows `stride` apart.
// MN-major B: row k holds 64 columns of N; groups of 8 K-rows `stride` apart, blocks of
// 64 columns `leading` apart. K-major B: as A, with the rows being N.
std::uint32_t a_address(const Desc& a, const ShapeInfo& s, int m, int k) {
  return a.start + static_cast<std::uint32_t>((m / 8) * a.stride + (m % 8) * 128 + k * s.elem);
}
std::uint32_t b_address(const Desc& b, const ShapeInfo& s, int k, int n) {
  return s.b_mn_major ? b.start + static_cast<std::uint32_t>((n / 64) * b.leading + (k / 8) * b.stride + (k % 8) * 128 + (n % 64) * 2)
                      : b.start + static_cast<std::uint32_t>((n / 8) * b.stride + (n % 8) * 128 + k * s.elem);
}

// The 16 / elem elements of the 16-byte chunk at `address` (16-byte aligned in every
// form: the swizzle moves whole chunks) into out[0], out[step], ...: one bounds check
// and one swizzle a chunk, not one an element.
void chunk_at(std::uint32_t address, int elem, float* out, int step) {
  const auto* p = static_cast<const unsigned char*>(shared_pointer(swizzle128(address), 16));
  if (elem == 1) {
    for (int i = 0; i < 16; ++i) out[i * step] = e4m3_to_float(p[i]);
    return;
  }
  for (int i = 0; i < 8; ++i) {
    std::uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i * step] = bf16_to_float(h);
  }
}

// The 16-byte chunks a warp's share of a wgmma reads from shared memory, each as
// f(operand 'A' or 'B', chunk address, index of its first element in the share's
// row-major A [16 x K] or B [K x N], distance between its elements there). The swizzle
// moves whole chunks; a chunk holds 16 / elem consecutive elements along the contiguous
// dimension (K, or N for an MN-major B), and every form reads whole chunks (K x elem =
// 32 bytes; N a multiple of 8). A in registers has no chunks.
template <class F>
void for_each_operand_chunk(const WgmmaOp& o, const ShapeInfo& s, int w, F f) {
  if ((s.k * s.elem) % 16 != 0 || s.n % 8 != 0) fail("a wgmma shape whose operand rows are not whole 16-byte chunks");
  const int per_chunk = 16 / s.elem;
  if (!s.a_registers) {
    const Desc a = decode(o.desc_a);
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < s.k; k += per_chunk) f('A', a_address(a, s, 16 * w + r, k), r * s.k + k, 1);
  }
  const Desc b = decode(o.desc_b);
  if (s.b_mn_major) {  // a chunk is 8 columns of one K-row
    for (int k = 0; k < s.k; ++k)
      for (int n = 0; n < s.n; n += 8) f('B', b_address(b, s, k, n), k * s.n + n, 1);
  } else {  // a chunk is per_chunk K-rows of one column
    for (int n = 0; n < s.n; ++n)
      for (int k = 0; k < s.k; k += per_chunk) f('B', b_address(b, s, k, n), k * s.n + n, s.n);
  }
}

// One warp's share of a wgmma: rows 16 w .. 16 w + 15 of D, from its 32 threads'
// parts. A warp's wgmma.wait_group covers its own share only (the others may still be
// reading the shared operands), so each warp's share runs at its own wait.
void run_wgmma_share(const std::vector<const WgmmaOp*>& lanes, int w) {
  const WgmmaOp& o = *lanes[0];
  for (const WgmmaOp* p : lanes)
    if (p->shape != o.shape || p->desc_a != o.desc_a || p->desc_b != o.desc_b || p->accumulate != o.accumulate)
      fail("threads of a warp issued different wgmma operations (shape, descriptors or scale-d)");
  const ShapeInfo s = info_of(o.shape);
  // Kept between calls (three allocations a share, one share a warp and wgmma).
  thread_local std::vector<float> A, B, D;
  A.resize(static_cast<std::size_t>(16 * s.k));
  B.resize(static_cast<std::size_t>(s.k * s.n));
  D.resize(static_cast<std::size_t>(16 * s.n));
  if (s.a_registers)  // the warp's mma.sync A fragment (bf16)
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < s.k; ++k) {
        const FragPos f = a_fragment(r, k, 2);
        A[static_cast<std::size_t>(r * s.k + k)] = fragment_value(lanes[static_cast<std::size_t>(f.lane)]->a[f.reg], f.elem, 2);
      }
  for_each_operand_chunk(o, s, w, [&](char which, std::uint32_t at, int index, int step) {
    chunk_at(at, s.elem, &(which == 'A' ? A : B)[static_cast<std::size_t>(index)], step);
  });
  product_16_rows(A.data(), B.data(), s.k, s.n, D.data());
  // D (m, n), m = 16 w + r, is register 4 (n / 8) + n % 2 + 2 [r >= 8] of lane
  // 4 (r % 8) + (n % 8) / 2.
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < s.n; ++n) {
      const WgmmaOp& t = *lanes[static_cast<std::size_t>(4 * (r % 8) + (n % 8) / 2)];
      float& d = t.d[4 * (n / 8) + n % 2 + (r >= 8 ? 2 : 0)];
      d = (o.accumulate ? d : 0.0f) + D[static_cast<std::size_t>(r * s.n + n)];
    }
}

struct WaitPart {
  ThreadAsync* t;
  int groups_left, rank;
};

// Retires every committed group but the newest groups_left of one warp, in order: its
// share of each operation.
void run_wgmma_wait(void* const* deposits, int count) {
  if (count != 32) fail("wgmma.wait_group by a partial warp");
  std::vector<ThreadAsync*> t(32);
  const auto* first = static_cast<const WaitPart*>(deposits[0]);
  const int groups_left = first->groups_left;
  const int w = first->rank / 32 % 4;  // the warp's place in its warpgroup
  for (int i = 0; i < 32; ++i) {
    const auto* p = static_cast<const WaitPart*>(deposits[i]);
    if (p->groups_left != groups_left) fail("lanes of a warp in wgmma.wait_group with different counts");
    t[static_cast<std::size_t>(i)] = p->t;
  }
  const std::size_t groups = t[0]->mma_groups.size();
  for (const ThreadAsync* x : t)
    if (x->mma_groups.size() != groups) fail("lanes of a warp committed different numbers of wgmma groups");
  const std::size_t retire = groups > static_cast<std::size_t>(groups_left) ? groups - static_cast<std::size_t>(groups_left) : 0;
  for (std::size_t gi = 0; gi < retire; ++gi) {
    const std::size_t ops = t[0]->mma_groups[gi].size();
    for (const ThreadAsync* x : t)
      if (x->mma_groups[gi].size() != ops) fail("lanes of a warp issued different numbers of wgmma operations");
    for (std::size_t j = 0; j < ops; ++j) {
      std::vector<const WgmmaOp*> lanes(32);
      for (int i = 0; i < 32; ++i) {
        const WgmmaOp& o = t[static_cast<std::size_t>(i)]->mma_groups[gi][j];
        if (o.d_kept && std::memcmp(o.d, o.d_at_issue, sizeof(float) * static_cast<std::size_t>(accumulators(o.shape))) != 0)
          fail("accumulator registers of a wgmma.mma_async changed while it was in flight (after its issue, before the "
               "wgmma.wait_group that retires it): the hardware's result would be undefined");
        lanes[static_cast<std::size_t>(i)] = &o;
      }
      run_wgmma_share(lanes, w);
    }
  }
  for (ThreadAsync* x : t) {
    x->mma_groups.erase(x->mma_groups.begin(), x->mma_groups.begin() + static_cast<std::ptrdiff_t>(retire));
    x->mma_fenced = false;  // its registers are the thread's again until the next wgmma.fence
  }
}

// At a warp's wgmma.mma_async: what the tensor cores will read of shared memory (its 16
// rows of A, all of B) must be in the async proxy's view (scheduler.h, proxy_fence),
// checked chunk by chunk.
void check_operands_fenced(const WgmmaOp& o, int w) {
  for_each_operand_chunk(o, info_of(o.shape), w, [](char which, std::uint32_t at, int, int) {
    const long long stale = async_view_stale(swizzle128(at), 16);
    if (stale >= 0)
      fail(std::string("wgmma.mma_async reads its ") + which + " operand at shared byte " + std::to_string(stale) +
           ", stored through the generic proxy (a plain store or a cp.async) with no fence.proxy.async after the store: "
           "the tensor cores may read the old bytes");
  });
}

}  // namespace

void mma_m16n8k16_bf16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  MmaLane mine{c, {a[0], a[1], a[2], a[3]}, {b0, b1}};
  group_collective(32, "mma.sync m16n8k16 bf16", &mine, run_mma<2>);
}

void mma_m16n8k32_e4m3(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  MmaLane mine{c, {a[0], a[1], a[2], a[3]}, {b0, b1}};
  group_collective(32, "mma.sync m16n8k32 e4m3", &mine, run_mma<4>);
}

void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row_address) {
  (void)shared_offset(row_address);  // must be shared memory
  LdmatrixLane mine{r, static_cast<const unsigned char*>(row_address)};
  group_collective(32, "ldmatrix.x4.trans", &mine, run_ldmatrix_trans);
}

void cp_async16(void* dst, const void* src, int src_bytes) {
  if (src_bytes < 0 || src_bytes > 16) fail("cp.async with a source size outside 0-16");
  if ((shared_offset(dst) & 15u) != 0) fail("cp.async to a shared address not 16-byte aligned");
  thread_async().copies_open.push_back(std::make_shared<AsyncCopy>(AsyncCopy{dst, src, 16, src_bytes}));
}

void cp_async_commit() {
  ThreadAsync& t = thread_async();
  t.copies_groups.push_back(std::move(t.copies_open));
  t.copies_open.clear();
}

void cp_async_wait(int groups_left) {
  ThreadAsync& t = thread_async();
  while (t.copies_groups.size() > static_cast<std::size_t>(groups_left)) {
    for (const auto& c : t.copies_groups.front()) land(*c);
    t.copies_groups.erase(t.copies_groups.begin());
  }
}

// The arrival comes once every cp.async this thread issued so far has landed: the
// barrier lands those still in flight when a thread waits for that phase. They stay in
// their groups too, so a cp.async.wait_group covers them as well (whichever comes first
// lands them).
void cp_async_arrive(std::uint32_t mbarrier) {
  ThreadAsync& t = thread_async();
  AsyncCopies copies;
  for (const auto& g : t.copies_groups) copies.insert(copies.end(), g.begin(), g.end());
  copies.insert(copies.end(), t.copies_open.begin(), t.copies_open.end());
  mbarrier_defer(mbarrier, [copies] { for (const auto& c : copies) land(*c); }, true, 0);
}

void wgmma_issue(WgmmaShape shape, float* d, std::uint64_t desc_a, std::uint64_t desc_b, const std::uint32_t* a,
                 int accumulate) {
  WgmmaOp op;
  op.shape = shape;
  op.d = d;
  op.desc_a = desc_a;
  op.desc_b = desc_b;
  op.accumulate = accumulate != 0 ? 1 : 0;
  if (a != nullptr) std::memcpy(op.a, a, sizeof op.a);
  ThreadAsync& t = thread_async();
  bool chained = false;  // an operation in flight already writes these accumulators
  for (const WgmmaOp& x : t.mma_open) chained = chained || x.d == d;
  for (const auto& g : t.mma_groups)
    for (const WgmmaOp& x : g) chained = chained || x.d == d;
  if (!chained) {
    op.d_kept = true;
    std::memcpy(op.d_at_issue, d, sizeof(float) * static_cast<std::size_t>(accumulators(shape)));
  }
  if (!t.mma_fenced)
    fail("wgmma.mma_async with no wgmma.fence since the thread's last wgmma.wait_group (or its start): the "
         "accumulator and A registers are not ordered after the thread's own use of them (PTX ISA, wgmma.fence)");
  if (thread_rank() % 32 == 0) check_operands_fenced(op, thread_rank() / 32 % 4);  // once a warp
  t.mma_open.push_back(op);
}

void wgmma_fence() { thread_async().mma_fenced = true; }

void wgmma_commit() {
  ThreadAsync& t = thread_async();
  t.mma_groups.push_back(std::move(t.mma_open));
  t.mma_open.clear();
}

void wgmma_wait(int groups_left) {
  WaitPart mine{&thread_async(), groups_left, thread_rank()};
  group_collective(32, "wgmma.wait_group", &mine, run_wgmma_wait);
}

bool mbarrier_try_wait(std::uint32_t bar, std::uint32_t parity) {
  yield_now();
  return mbarrier_test(bar, parity);
}

namespace {

// The emulator's tensor map, in the CUtensorMap's 128 bytes.
struct TensorMap {
  std::uint64_t magic;
  const unsigned char* global;
  std::uint64_t dims[3], strides[3];  // strides[0] is the element size
  std::uint32_t box[3], rank, swizzle128;
};
static_assert(sizeof(TensorMap) <= 128, "fits a CUtensorMap");
constexpr std::uint64_t kMapMagic = 0x53494D54544D4150ull;  // "SIMTTMAP"

// CUtensorMapDataType values the kernels use, and their sizes.
int element_bytes(int data_type) {
  switch (data_type) {
    case 0: return 1;   // UINT8
    case 1: return 2;   // UINT16
    case 6: return 2;   // FLOAT16
    case 7: return 4;   // FLOAT32
    case 9: return 2;   // BFLOAT16
    default: return 0;
  }
}

// The box's copy, when its mbarrier phase is waited for.
void land_box(const TensorMap& m, std::uint32_t base, int x, int y, int z);

}  // namespace

int tensor_map_encode_tiled(void* map, int data_type, unsigned rank, void* global, const std::uint64_t* dims,
                            const std::uint64_t* strides, const std::uint32_t* box, const std::uint32_t* element_strides,
                            int interleave, int swizzle, int, int) {
  constexpr int kInvalid = 1;  // CUDA_ERROR_INVALID_VALUE
  const int elem = element_bytes(data_type);
  if (elem == 0 || rank < 1 || rank > 3 || interleave != 0) return kInvalid;
  TensorMap m{};
  m.magic = kMapMagic;
  m.global = static_cast<const unsigned char*>(global);
  m.rank = rank;
  m.swizzle128 = swizzle == 3 ? 1u : 0u;  // CU_TENSOR_MAP_SWIZZLE_128B
  if (swizzle != 0 && swizzle != 3) return kInvalid;
  m.strides[0] = static_cast<std::uint64_t>(elem);
  for (unsigned i = 0; i < 3; ++i) {
    m.dims[i] = i < rank ? dims[i] : 1;
    m.box[i] = i < rank ? box[i] : 1;
    if (i < rank && element_strides[i] != 1) return kInvalid;  // only dense boxes are emulated
    if (i > 0) m.strides[i] = i < rank ? strides[i - 1] : m.strides[i - 1] * m.dims[i - 1];
  }
  if (m.swizzle128 && m.box[0] * m.strides[0] != 128) return kInvalid;  // rows of exactly the swizzle span
  std::memset(map, 0, 128);
  std::memcpy(map, &m, sizeof m);
  return 0;
}

void tma_load_3d(void* dst, const void* tensor_map, int x, int y, int z, std::uint32_t mbarrier) {
  TensorMap m;
  std::memcpy(&m, tensor_map, sizeof m);
  if (m.magic != kMapMagic) fail("cp.async.bulk.tensor with a tensor map the emulator did not make");
  const std::uint32_t base = shared_offset(dst);
  if (m.swizzle128 && base % 1024 != 0) fail("a 128-byte-swizzled TMA box at a shared address not 1024-aligned");
  const auto elem = static_cast<std::uint32_t>(m.strides[0]);
  const std::uint32_t row_bytes = m.box[0] * elem;
  const std::uint32_t bytes = row_bytes * m.box[1] * m.box[2];
  (void)shared_pointer(base, bytes);  // the whole box inside the window, checked at issue
  mbarrier_defer(mbarrier, [m, base, x, y, z] { land_box(m, base, x, y, z); }, false, bytes);
}

namespace {

void land_box(const TensorMap& m, std::uint32_t base, int x, int y, int z) {
  const auto elem = static_cast<std::uint32_t>(m.strides[0]);
  const std::uint32_t row_bytes = m.box[0] * elem;
  const std::int64_t at[3] = {x, y, z};
  std::uint32_t row = 0;
  for (std::uint32_t k = 0; k < m.box[2]; ++k)
    for (std::uint32_t j = 0; j < m.box[1]; ++j, ++row)
      for (std::uint32_t i = 0; i < m.box[0]; ++i) {
        const std::int64_t c[3] = {at[0] + i, at[1] + j, at[2] + k};
        const std::uint32_t off = base + row * row_bytes + i * elem;
        auto* out = static_cast<unsigned char*>(shared_pointer(m.swizzle128 ? swizzle128(off) : off, elem));
        bool inside = true;
        for (int d = 0; d < 3; ++d) inside = inside && c[d] >= 0 && c[d] < static_cast<std::int64_t>(m.dims[d]);
        if (!inside) {
          std::memset(out, 0, elem);
          continue;
        }
        const unsigned char* in = m.global + static_cast<std::uint64_t>(c[0]) * m.strides[0] +
                                  static_cast<std::uint64_t>(c[1]) * m.strides[1] + static_cast<std::uint64_t>(c[2]) * m.strides[2];
        std::memcpy(out, in, elem);
      }
  async_proxy_wrote(base, static_cast<std::size_t>(row_bytes) * m.box[1] * m.box[2]);  // the swizzle stays within each row
}

}  // namespace

}  // namespace simt
