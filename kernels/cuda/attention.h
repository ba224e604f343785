// The attention kernels on the GPU (dsa-spec.md sections 4-6), all with bf16 tensor
// cores (mma.sync m16n8k16, or wgmma in the *_wgmma variants), fp32 softmax statistics
// and online accumulation:
//
//  * MQA mode (sparse MLA and the dense decode baseline): q [T, H, d_qk] bf16 over one
//    latent cache shared by all heads, value = the first d_v entries of each key row.
//    Sparse: keys come from indices [T, K] (-1 or >= keys skipped). Dense: keys
//    [0, key_end(t)) of a causal query at query_offset + t. The cache is bf16
//    [S, d_qk] or the 656-byte FP8 rows of dsa-spec.md section 5. When the grid
//    would leave the GPU idle (decode: few tokens), the keys of each token are
//    split across blocks and a second kernel merges the partial results by their
//    log-sum-exp.
//  * MHA mode (the dense prefill baseline): causal flash attention, q [T, H, 192],
//    k [S, H, 192], v [S, H, 128], with a query offset so a chunk of queries at
//    [p0, p0 + T) over p0 + T keys is exact.
//
// Outputs: out [T, H, d_v] bf16 and lse [T, H] fp32 (natural log; -inf and a zero
// output for a query with no valid key).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace dsa::cuda {

struct MqaLaunch {
  const std::uint16_t* q = nullptr;     // [T, H, d_qk] bf16 bits
  const void* kv = nullptr;             // [S, d_qk] bf16 bits, or [S, 656] FP8 rows
  const std::int32_t* indices = nullptr;  // [T, K]; nullptr: dense causal attention
  std::int64_t topk = 0;                // K
  std::uint16_t* out = nullptr;         // [T, H, d_v] bf16 bits
  float* lse = nullptr;                 // [T, H]
  float* workspace = nullptr;           // split-KV partials: mqa_workspace_floats() floats
  std::int64_t queries = 0, keys = 0;
  int heads = 0, d_qk = 0, d_v = 0;
  float scale = 0.0f;
  std::int64_t query_offset = 0;        // dense: absolute position of query row 0
  bool fp8_cache = false;
  int splits = 1;                       // blocks per (token, head group) along the keys
  // A decode batch: tokens come in sequences of `seq_queries` (0: one sequence), and kv
  // holds each sequence's cache of `keys` rows back to back. Indices and causal bounds
  // are per sequence.
  std::int64_t seq_queries = 0;
};

std::optional<std::string> mqa_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse, bool fp8_cache);
// What is wrong with a launch's scale, splits, workspace, grid or batch (both kernels).
std::optional<std::string> mqa_launch_problem(const MqaLaunch& p);
// Splits that keep `sm_count` SMs busy for this launch (1 when the grid is already full).
int mqa_choose_splits(const MqaLaunch& p, int sm_count);
std::size_t mqa_workspace_floats(const MqaLaunch& p);
void launch_mqa(const MqaLaunch& p, cudaStream_t stream);

// The same attention on Hopper's warpgroup MMA (attention_mqa_wgmma.cu): the model's
// shape only (d_qk 576, d_v 512, heads a multiple of 64), same grid, splits, workspace
// and outputs as launch_mqa.
std::optional<std::string> mqa_wgmma_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse);
void launch_mqa_wgmma(const MqaLaunch& p, cudaStream_t stream);
// Its kernel with a clock per phase (kernels/cuda/phase_clock.cuh): thread 0 of each
// warpgroup adds the cycles of each phase of every key step to phase_sink()
// (phases.h), in the order of MqaPhase; event mqa_event_tiles counts the steps. Same
// output. For the micro-benchmarks' phase tables, never picked by the registry.
void launch_mqa_wgmma_phases(const MqaLaunch& p, cudaStream_t stream);
enum MqaPhase : int {
  mqa_phase_load,      // waiting for this thread's copies of the step's tile to land
  mqa_phase_barrier,   // the step's first barrier: everyone's copies, the last step done everywhere
  mqa_phase_dequant,   // FP8 cache: the staged rows dequantised into the tile, and a barrier
  mqa_phase_issue,     // starting the next step's copies
  mqa_phase_scores,    // S = Q K^T, issued and awaited
  mqa_phase_softmax,   // the online softmax, the row maxima's exchange, P written, a barrier
  mqa_phase_pv,        // O += P V, issued and awaited
  mqa_phase_epilogue,  // the output (or split partials) written, once per block
  mqa_phase_count
};
inline constexpr const char* kMqaPhaseNames[mqa_phase_count] = {"load",    "barrier", "dequant", "issue",
                                                                "scores",  "softmax", "pv",      "epilogue"};
enum MqaEvent : int { mqa_event_tiles };
// The same kernel for an FP8 cache with the rows of each key step loaded into registers
// a step ahead and dequantised into the other bf16 tile at the end of the step before
// (one barrier per step; the default stages them raw in shared memory, dequantises them
// after the step's barrier, and only then starts the next step's copies). Aimed at the
// sparse FP8 decode target (196 TFLOP/s against 200 at batch 64). Not yet run on a GPU.
std::optional<std::string> mqa_wgmma_fp8regs_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse,
                                                         bool fp8_cache);
void launch_mqa_wgmma_fp8regs(const MqaLaunch& p, cudaStream_t stream);
// ... and with its clock per phase, as launch_mqa_wgmma_phases (phase mqa_phase_dequant
// is then at the end of each step: what is left of the wait for the next step's rows,
// and their dequantisation).
void launch_mqa_wgmma_fp8regs_phases(const MqaLaunch& p, cudaStream_t stream);
// The lock-step kernel for dense attention over a bf16 cache with each key tile loaded
// as 9 TMA boxes by one thread (an mbarrier per tile buffer) instead of cp.async from
// all threads: the same load as cuda.dense_mqa.seesaw_tma in the simpler kernel, so a
// first GPU run tells a TMA fault from a seesaw one. Not yet run on a GPU.
std::optional<std::string> mqa_wgmma_tma_unsupported(int heads, int d_qk, int d_v, bool sparse, bool fp8_cache);
void launch_mqa_wgmma_tma(const MqaLaunch& p, cudaStream_t stream);
void launch_mqa_wgmma_tma_phases(const MqaLaunch& p, cudaStream_t stream);

// The same on warpgroup MMA with the warpgroups taking turns on tiles of their own
// (attention_mqa_seesaw.cu): bf16 cache only, otherwise as launch_mqa_wgmma.
std::optional<std::string> mqa_seesaw_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse,
                                                  bool fp8_cache);
void launch_mqa_seesaw(const MqaLaunch& p, cudaStream_t stream);
// The seesaw kernel for dense attention with its key tiles loaded by the tensor memory
// accelerator (one 64 x 64 box per column block, as FlashMLA's decode kernel does)
// instead of cp.async: dense decode is the target it is for. Not yet run on a GPU.
void launch_mqa_seesaw_tma(const MqaLaunch& p, cudaStream_t stream);
// Those two with a clock per phase (kernels/cuda/phase_clock.cuh): thread 0 of each
// warpgroup adds the cycles of its own phases of every round of two tiles to
// phase_sink(), in the order of SeesawPhase; warpgroup 0 counts the rounds and the
// blocks. Same output. For the micro-benchmarks' phase tables, never picked by the
// registry.
void launch_mqa_seesaw_phases(const MqaLaunch& p, cudaStream_t stream);
void launch_mqa_seesaw_tma_phases(const MqaLaunch& p, cudaStream_t stream);
enum SeesawPhase : int {
  seesaw_wg0_wait_a,          // warpgroup 0: waiting for tile A's first part
  seesaw_wg0_scores_a,        // S_A issued and awaited (with the wait for A's second part)
  seesaw_wg0_softmax_a,       // mA, P_A written, handed to warpgroup 1, a barrier of its own
  seesaw_wg0_pv_a,            // O_L += P_A V_A,L
  seesaw_wg0_refill_a,        // A's blocks 0-3 freed and their next copies started
  seesaw_wg0_wait_max_b,      // waiting for warpgroup 1's mB and P_B
  seesaw_wg0_pv_b,            // O_L rescaled, += P_B V_B,L
  seesaw_wg0_refill_b,        // waiting for warpgroup 1 to free B, B's next copies started
  seesaw_wg0_epilogue,        // once per block
  seesaw_wg1_wait_b,          // warpgroup 1: waiting for tile B's first part
  seesaw_wg1_scores_b,        // S_B issued and awaited (with the wait for B's other part)
  seesaw_wg1_wait_max_a,      // waiting for warpgroup 0's mA and P_A
  seesaw_wg1_pv_a_softmax_b,  // O_R += P_A V_A,R with the softmax of S_B under it, P_B handed over
  seesaw_wg1_free_a,          // a barrier of its own; waiting for warpgroup 0 to free A, A's copies
  seesaw_wg1_pv_b,            // O_R += P_B V_B,R
  seesaw_wg1_refill_b,        // B's blocks 4-7 freed and their next copies started
  seesaw_wg1_epilogue,        // once per block
  seesaw_phase_count
};
inline constexpr const char* kSeesawPhaseNames[seesaw_phase_count] = {
    "wg0_wait_a", "wg0_scores_a", "wg0_softmax_a", "wg0_pv_a",           "wg0_refill_a", "wg0_wait_max_b",
    "wg0_pv_b",   "wg0_refill_b", "wg0_epilogue",  "wg1_wait_b",         "wg1_scores_b", "wg1_wait_max_a",
    "wg1_pv_a_softmax_b", "wg1_free_a", "wg1_pv_b", "wg1_refill_b", "wg1_epilogue"};
enum SeesawEvent : int { seesaw_event_rounds, seesaw_event_blocks };

struct MhaLaunch {
  const std::uint16_t* q = nullptr;  // [T, H, d_qk] bf16 bits
  const std::uint16_t* k = nullptr;  // [S, H, d_qk]
  const std::uint16_t* v = nullptr;  // [S, H, d_v]
  std::uint16_t* out = nullptr;      // [T, H, d_v]
  float* lse = nullptr;              // [T, H]
  std::int64_t queries = 0, keys = 0;
  int heads = 0, d_qk = 0, d_v = 0;
  float scale = 0.0f;
  std::int64_t query_offset = 0;
};

std::optional<std::string> mha_unsupported(int heads, int d_qk, int d_v);
// What is wrong with a launch's scale or grid for blocks of `rows_per_block` queries.
std::optional<std::string> mha_launch_problem(const MhaLaunch& p, int rows_per_block);
void launch_mha(const MhaLaunch& p, cudaStream_t stream);

// The same prefill on Hopper's warpgroup MMA (attention_mha_wgmma.cu): d_qk 192 /
// d_v 128 only, 128 queries x 1 head per block.
std::optional<std::string> mha_wgmma_unsupported(int heads, int d_qk, int d_v);
void launch_mha_wgmma(const MhaLaunch& p, cudaStream_t stream);
// Its kernel with a clock per phase (kernels/cuda/phase_clock.cuh): thread 0 of each
// warpgroup adds the cycles of each phase of every 128-key step to phase_sink(), in
// the order of MhaPhase; event mha_event_steps counts the steps. Same output. For the
// micro-benchmarks' phase tables, never picked by the registry.
void launch_mha_wgmma_phases(const MhaLaunch& p, cudaStream_t stream);
enum MhaPhase : int {
  mha_phase_issue,        // starting the next step's copies
  mha_phase_load,         // waiting for this thread's copies of the step's K and V
  mha_phase_barrier,      // the barrier that makes every thread's copies visible
  mha_phase_scores,       // S = Q K^T, issued and awaited
  mha_phase_softmax,      // the online softmax (registers only) and O's rescaling
  mha_phase_pv,           // O += P V, issued and awaited
  mha_phase_end_barrier,  // the barrier before the stage is refilled
  mha_phase_epilogue,     // the output written, once per block
  mha_phase_count
};
inline constexpr const char* kMhaPhaseNames[mha_phase_count] = {"issue",   "load", "barrier",     "scores",
                                                                "softmax", "pv",   "end_barrier", "epilogue"};
enum MhaEvent : int { mha_event_steps };
// The same kernel with each step's S issued beside the previous step's P V, so the
// softmax runs under a product (attention_mha_wgmma.cu, kOverlap): same shapes.
void launch_mha_overlap(const MhaLaunch& p, cudaStream_t stream);

// The FP8 latent-cache writer: rows [S, kv_rank + rope] fp32 -> [S, fp8_mla_row_bytes]
// with the project's quantiser (core/quant.h), bit-identical to pack_fp8_mla_row.
void launch_pack_fp8_mla(const float* rows, std::int64_t n, int kv_rank, int rope, std::uint8_t* out,
                         cudaStream_t stream);

}  // namespace dsa::cuda
