// The case descriptor: one object that names an op, its shape, dtype, generator,
// tolerances and timing settings. The same object is used to make inputs, validate
// against the reference, time, and report (llama.cpp's test-backend-ops habit).
#pragma once

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/generators.h"

namespace dsa::bench {

enum class Op { indexer, topk, sparse_attention, dense_attention_mha, dense_attention_mqa, dsa_vs_dense, model_prefill,
                model_decode };
enum class Mode { validate, bench, both };
enum class Phase { prefill, decode };

const char* op_name(Op op);
const char* mode_name(Mode m);
const char* phase_name(Phase p);

struct Tolerance {
  double abs = 8e-4;               // per element: passes if |x-ref| <= abs ...
  double rel = 3.01 / 128;         // ... or |x-ref| <= rel * |ref|   (FlashMLA's BF16 bound)
  double cos_diff = 1e-5;          // whole-tensor cos_diff bound
  double lse_rel = 2.01 / 65536;   // log-sum-exp relative bound
  double min_pass_fraction = 1.0;  // share of elements that must pass
  double quant_cos_diff = 1e-3;    // FP8 indexer scores vs unquantised (DeepGEMM's bound)
  // Attention outputs only: unit roundoff of the softmax probabilities as they enter
  // P * V. bf16 (2^-8) as in FlashMLA and FlashAttention; each element may move by
  // p_round * sum_s p_s |v_s| more (reference/attention.h). 0 turns it off.
  double p_round = 1.0 / 256;
};

// The indexer's bounds for an implementation against the reference on the same
// quantised operands: only the summation order differs (fp32 vs fp64), so they are
// tight; the FP8 error itself is checked separately against quant_cos_diff.
Tolerance indexer_tolerance();

struct TimingSettings {
  int warmup = 1;                  // untimed runs first
  int min_samples = 3;
  int max_samples = 50;
  double max_seconds = 2.0;        // time budget for the samples of one measurement
  double target_rel_spread = 0.01; // stop once stddev/mean falls under this
};

struct CaseSpec {
  std::string name;
  std::string description;
  Op op = Op::indexer;
  Mode mode = Mode::both;
  std::string generator = "structured";
  PatternSpec pattern;

  // Shapes. Not every field applies to every op (see suite.cpp for which do).
  std::int64_t queries = 0;
  std::int64_t context = 0;
  std::int64_t query_offset = -1;  // -1: context - queries (the last queries of the context)
  bool causal = true;
  int heads = 128;                 // attention heads
  int d_qk = 576, d_v = 512;       // attention op dims
  int index_heads = 64, index_head_dim = 128;
  std::int64_t topk = 2048;
  double softmax_scale = 0.0;      // 0 = the model's (dsa-spec.md section 1)
  bool hadamard = false;
  double invalid_fraction = 0.0;   // sparse_attention: share of index slots made invalid
  std::int64_t empty_rows = 0;     // sparse_attention: rows with no valid index
  double tie_fraction = 0.9;       // topk "ties": share of exact zeros

  // dsa_vs_dense
  Phase phase = Phase::decode;
  std::vector<std::int64_t> contexts;
  std::int64_t query_chunk = 0;    // prefill: queries per point; decode: queries per sequence
  int batch = 1;                   // decode: sequences
  int kv_rank = 512, qk_nope = 128, qk_rope = 64, v_head = 128;
  std::int64_t accuracy_rows = 16; // query rows sampled for mass recall / top-k overlap
  std::int64_t validate_rows = 0;  // query rows of a point checked against the reference (0: all)

  // model_prefill / model_decode
  std::string model = "dsa-tiny";  // a preset (model/presets), used when no checkpoint is given
  std::string checkpoint;          // a checkpoint directory or .safetensors file (config.json beside it)
  std::string weights_dtype = "bf16";  // synthetic checkpoints: bf16, fp8 or fp32 linears
  DType kv_cache_dtype = DType::bf16;  // latent cache: bf16 or the 656-byte fp8 layout
  int layer_first = -1, layer_end = -1;  // "layers": [first, end): that range alone, on hidden states
  std::int64_t prefill_chunk = 512;
  std::int64_t decode_steps = 8;

  DType dtype = DType::bf16;       // attention inputs/outputs (bf16/fp32); indexer: fp8/bf16/fp32
  DType indexer_dtype = DType::fp8_e4m3;

  Tolerance tol;
  TimingSettings timing;
  // Backends the case may run on (empty: any). A GPU-sized case lists only "cuda", so on
  // a machine without a GPU it is skipped instead of running for hours on the CPU.
  std::vector<std::string> backends;
  // Single-op cases: the variant to run, by registry name (empty: the first variant of
  // an allowed backend that takes the shape). For comparing kernels of one op.
  std::string implementation;
  // dsa_vs_dense: variants by stage ("indexer", "topk", "sparse_attention",
  // "dense_attention"); a stage not named takes the first that fits.
  std::map<std::string, std::string> stage_implementations;

  bool validates() const { return mode != Mode::bench; }
  bool benches() const { return mode != Mode::validate; }
  std::int64_t resolved_query_offset() const { return query_offset >= 0 ? query_offset : context - queries; }
  double resolved_scale() const;
};

struct Suite {
  std::string path;
  std::string name;
  std::string description;
  std::string content_hash;  // FNV-1a 64 of the file bytes, hex
  // A case with no result after this many seconds is stopped and recorded as an error
  // (a hung kernel); `run --case-timeout` overrides it. 0: no limit.
  double case_timeout_s = 0;
  std::vector<CaseSpec> cases;
};

}  // namespace dsa::bench
