// The GPU forward against the CPU forward on dsa-tiny (ctest label "gpu"; skipped
// without a device). Same synthetic weights and tokens, dense and DSA, a chunked
// prefill then decode steps. The GPU rounds every matrix product's inputs to bf16 and
// the CPU does not, and a random tiny model turns small differences into discrete
// ones (an MoE expert or a DSA key that flips on a near-tie), so no fixed bound fits.
// The yardstick is the model's own sensitivity: the CPU forward against the CPU
// forward with every weight jittered by bf16's unit roundoff. The GPU must stay within
// a small multiple of that; a wrong layout, cache offset or mask is far outside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/metrics.h"
#include "core/rng.h"
#include "cuda_test_util.h"
#include "kernels/cuda_variants.h"
#include "model/forward.h"
#include "test_util.h"
#include "tiny_model.h"

namespace dsa::model {
namespace {

using test::random_tokens;
using test::tiny_checkpoint;
using test::tiny_weights;

// Logits of a prefill in chunks of `chunk` then `steps` single-token decode steps.
HostTensor<float> run(const Model& m, const std::vector<std::int32_t>& toks, std::int64_t prefill, std::int64_t chunk,
                      AttentionMode mode) {
  const auto cache = m.make_cache();
  const std::int64_t n = static_cast<std::int64_t>(toks.size()), V = m.config().vocab;
  HostTensor<float> all({n, V});
  for (std::int64_t p = 0; p < n;) {
    const std::int64_t len = p < prefill ? std::min(chunk, prefill - p) : 1;
    const HostTensor<float> l = m.run_tokens(std::span(toks).subspan(static_cast<std::size_t>(p), static_cast<std::size_t>(len)),
                                             *cache, mode, nullptr);
    std::copy(l.data(), l.data() + l.numel(), all.data() + p * V);
    p += len;
  }
  return all;
}

// Every matrix of `w` with each entry scaled by 1 + r / 256, r uniform in [-1, 1]:
// errors of the size bf16 rounding makes, at every product.
ModelWeights jittered(ModelWeights w, std::uint64_t seed) {
  Rng rng(seed);
  const auto jit = [&](Matrix& m) {
    for (float& v : m.data) v *= static_cast<float>(1.0 + (2.0 * rng.uniform() - 1.0) / 256.0);
  };
  jit(w.embed);
  jit(w.lm_head);
  for (LayerWeights& L : w.layers) {
    for (Matrix* m : {&L.q_a, &L.q_b, &L.kv_a, &L.kv_b, &L.o, &L.idx_wq_b, &L.idx_wk, &L.idx_weights, &L.gate_proj,
                      &L.up_proj, &L.down_proj, &L.router})
      jit(*m);
    for (std::vector<Matrix>* e : {&L.expert_gate, &L.expert_up, &L.expert_down})
      for (Matrix& m : *e) jit(m);
  }
  return w;
}

struct Agreement {
  double rel_l2 = 0, top1 = 0;  // of all logits; share of rows with the same argmax
};

Agreement agreement(const HostTensor<float>& a, const HostTensor<float>& b) {
  Agreement r;
  r.rel_l2 = compare_values(a.span(), b.span(), 0, 0).rel_l2;
  const std::int64_t rows = a.size(0), V = a.size(1);
  std::int64_t same = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto top = [&](const HostTensor<float>& t) {
      return std::max_element(t.data() + i * V, t.data() + (i + 1) * V) - (t.data() + i * V);
    };
    same += top(a) == top(b);
  }
  r.top1 = static_cast<double>(same) / static_cast<double>(rows);
  return r;
}

// The GPU within a small multiple of the yardstick (the worse of two jitters).
void expect_within_yardstick(const Agreement& gpu, const Agreement& j1, const Agreement& j2, const std::string& what) {
  const double floor_l2 = std::max(j1.rel_l2, j2.rel_l2), floor_top1 = std::min(j1.top1, j2.top1);
  const std::string detail = what + ": gpu rel_l2 " + std::to_string(gpu.rel_l2) + " top-1 " + std::to_string(gpu.top1) +
                             "; jittered cpu rel_l2 " + std::to_string(floor_l2) + " top-1 " + std::to_string(floor_top1);
  std::printf("%s\n", detail.c_str());
  EXPECT_LE(gpu.rel_l2, 3.0 * floor_l2 + 0.01) << detail;
  EXPECT_GE(gpu.top1, floor_top1 - 0.1) << detail;
}

// Each sequence's prompt (all but its last `steps` tokens) alone, in chunks of at most
// `chunk`, then `steps` decode steps of all the sequences at once: the steps' logits,
// one row per sequence and step, step by step.
HostTensor<float> batched_steps(const Model& m, const std::vector<std::vector<std::int32_t>>& toks, AttentionMode mode,
                                std::size_t chunk, std::size_t steps) {
  std::vector<std::unique_ptr<ModelCache>> caches;
  std::vector<ModelCache*> ptrs;
  for (const auto& t : toks) {
    caches.push_back(m.make_cache());
    const std::size_t prompt = t.size() - steps;
    for (std::size_t p = 0; p < prompt; p += chunk)
      m.run_tokens(std::span<const std::int32_t>(t).subspan(p, std::min(chunk, prompt - p)), *caches.back(), mode, nullptr);
    ptrs.push_back(caches.back().get());
  }
  const std::int64_t V = m.config().vocab, B = static_cast<std::int64_t>(toks.size());
  HostTensor<float> out({B * static_cast<std::int64_t>(steps), V});
  for (std::size_t k = 0; k < steps; ++k) {
    std::vector<std::span<const std::int32_t>> next;
    for (const auto& t : toks) next.push_back(std::span<const std::int32_t>(t).subspan(t.size() - steps + k, 1));
    const HostTensor<float> l = m.run_tokens_batch(next, ptrs, mode, nullptr);
    std::copy(l.data(), l.data() + l.numel(), out.data() + static_cast<std::int64_t>(k) * B * V);
  }
  return out;
}

TEST(CudaModel, ForwardMatchesTheCpuForwardOnDsaTiny) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const CpuModel cpu(w, DType::bf16), cpu_j1(jittered(w, 1), DType::bf16), cpu_j2(jittered(w, 2), DType::bf16);
  const auto gpu = make_cuda_model(w, DType::bf16);
  const std::vector<std::int32_t> toks = random_tokens(300, w.config.vocab, 5);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    const auto logits = [&](const Model& m) { return run(m, toks, 296, 96, mode); };
    const HostTensor<float> ref = logits(cpu);
    expect_within_yardstick(agreement(logits(*gpu), ref), agreement(logits(cpu_j1), ref), agreement(logits(cpu_j2), ref),
                            attention_mode_name(mode));
  }
}

// A layer range alone (hidden states in and out, no embeddings or LM head: how one real
// layer of the full model runs on one GPU, suites/model.json's model.v32.layer3.prefill)
// gives what the CPU forward gives, through a chunked prefill and decode steps.
TEST(CudaModel, ALayerRangeMatchesTheCpuForward) {
  REQUIRE_CUDA_DEVICE();
  const ModelConfig c = preset_config("dsa-tiny");
  const ModelWeights w = load_weights(c, *Checkpoint::open(tiny_checkpoint()), {1, 3, false});
  const CpuModel cpu(w, DType::bf16), cpu_j1(jittered(w, 1), DType::bf16), cpu_j2(jittered(w, 2), DType::bf16);
  const auto gpu = make_cuda_model(w, DType::bf16);
  ASSERT_FALSE(gpu->has_head());
  const std::int64_t n = 200, D = c.hidden;
  HostTensor<float> x({n, D});
  Rng rng(9);
  rng.fill_normal(x.span());
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    const auto outputs = [&](const Model& m) {  // 192 positions in chunks of 64, then 8 decode steps
      const auto cache = m.make_cache();
      HostTensor<float> all({n, D});
      for (std::int64_t p = 0; p < n;) {
        const std::int64_t len = p < 192 ? 64 : 1;
        HostTensor<float> rows({len, D});
        std::copy(x.data() + p * D, x.data() + (p + len) * D, rows.data());
        const HostTensor<float> y = m.run_hidden(rows, *cache, mode, nullptr);
        std::copy(y.data(), y.data() + y.numel(), all.data() + p * D);
        p += len;
      }
      return all;
    };
    const HostTensor<float> ref = outputs(cpu);
    const auto rel = [&](const HostTensor<float>& a) { return compare_values(a.span(), ref.span(), 0, 0).rel_l2; };
    const double g = rel(outputs(*gpu)), floor = std::max(rel(outputs(cpu_j1)), rel(outputs(cpu_j2)));
    EXPECT_LE(g, 3.0 * floor + 0.01) << attention_mode_name(mode) << ": gpu rel_l2 " << g << ", jittered cpu " << floor;
  }
}

// A decode step of several sequences (at different positions) in one pass on the GPU
// gives each sequence what the CPU forward gives it.
TEST(CudaModel, BatchedDecodeStepMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const CpuModel cpu(w, DType::bf16), cpu_j1(jittered(w, 1), DType::bf16), cpu_j2(jittered(w, 2), DType::bf16);
  const auto gpu = make_cuda_model(w, DType::bf16);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    std::vector<std::vector<std::int32_t>> toks;
    for (int b = 0; b < 3; ++b) toks.push_back(random_tokens(100 + 30 * b, w.config.vocab, 11 + b));
    // Each sequence's prompt alone, then the last token of all three in one step.
    const auto step = [&](const Model& m) { return batched_steps(m, toks, mode, toks.back().size(), 1); };
    const HostTensor<float> ref = step(cpu);
    expect_within_yardstick(agreement(step(*gpu), ref), agreement(step(cpu_j1), ref), agreement(step(cpu_j2), ref),
                            std::string("batched step, ") + attention_mode_name(mode));
  }
}

// The batched decode of suites/model.json's model.small.decode (dsa-small at batch 4),
// at dsa-small's attention shapes: 128 heads, the 576 / 512 latent, the indexer's
// 64 x 128 in FP8, so the GPU forward takes the kernels it takes there (the wgmma
// indexer, sparse and dense MQA, MHA prefill), with a small rest (one layer, hidden
// 256, vocabulary 512) and top-k 128 so prompts of 150 to 201 tokens are sparse from
// their second prefill chunk on. (Top-k 256 and prompts of about 300 took three
// minutes on the SIMT emulator, most of it in the sparse attention's 128 heads.)
TEST(CudaModel, BatchedDecodeAtDsaSmallsAttentionShapesMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  ModelConfig c = preset_config("dsa-small");
  c.name = "dsa-small attention, small rest";
  c.hidden = 256;
  c.layers = 1;
  c.q_lora_rank = 256;
  c.intermediate = 512;
  c.vocab = 512;
  c.index_topk = 128;
  const std::string dir = test::scratch_path("small-attention-checkpoint");
  std::filesystem::remove_all(dir);
  write_synthetic_checkpoint(c, dir, 7);
  const ModelWeights w = load_weights(c, *Checkpoint::open(dir));
  const CpuModel cpu(w, DType::bf16), cpu_j1(jittered(w, 1), DType::bf16), cpu_j2(jittered(w, 2), DType::bf16);
  const auto gpu = make_cuda_model(w, DType::bf16);
  std::vector<std::vector<std::int32_t>> toks;
  for (int b = 0; b < 4; ++b) toks.push_back(random_tokens(150 + 17 * b, c.vocab, 31 + b));
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    // Each prompt alone in chunks of 128, then two steps of all four sequences at once.
    const auto steps = [&](const Model& m) { return batched_steps(m, toks, mode, 128, 2); };
    const HostTensor<float> ref = steps(cpu);
    expect_within_yardstick(agreement(steps(*gpu), ref), agreement(steps(cpu_j1), ref), agreement(steps(cpu_j2), ref),
                            std::string("dsa-small attention, batch 4, ") + attention_mode_name(mode));
  }
}

// The head on the last position alone (strided rows into the norm) gives that row of
// the full head's logits.
TEST(CudaModel, LastPositionLogitsAreTheLastRow) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const auto gpu = make_cuda_model(w, DType::bf16);
  const std::vector<std::int32_t> toks = random_tokens(50, w.config.vocab, 3);
  const auto full = gpu->make_cache(), last = gpu->make_cache();
  const HostTensor<float> a = gpu->run_tokens(toks, *full, AttentionMode::dsa, nullptr);
  const HostTensor<float> b = gpu->run_tokens_last(toks, *last, AttentionMode::dsa, nullptr);
  const std::int64_t V = w.config.vocab;
  ASSERT_EQ(b.size(0), 1);
  EXPECT_LT(compare_values(b.span(), std::span<const float>(a.data() + 49 * V, static_cast<std::size_t>(V)), 0, 0).rel_l2, 1e-5);
  EXPECT_EQ(last->length, 50);
}

// A cache sized up front (the runner's, before each prefill; here four times what the
// tokens need, where one grown as they arrive holds its minimum of 256) gives the same
// logits: a prefill chunk, then decode steps, both modes.
TEST(CudaModel, AReservedCacheGivesTheSameLogits) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const auto gpu = make_cuda_model(w, DType::bf16);
  const std::vector<std::int32_t> toks = random_tokens(130, w.config.vocab, 8);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    const auto grown = gpu->make_cache(), sized = gpu->make_cache();
    sized->reserve(1024, mode);
    for (std::int64_t p = 0; p < 130; p += p < 127 ? 127 : 1) {
      const std::int64_t n = p < 127 ? 127 : 1;
      const auto part = std::span<const std::int32_t>(toks).subspan(static_cast<std::size_t>(p), static_cast<std::size_t>(n));
      const HostTensor<float> a = gpu->run_tokens(part, *grown, mode, nullptr), b = gpu->run_tokens(part, *sized, mode, nullptr);
      EXPECT_LT(compare_values(b.span(), a.span(), 0, 0).rel_l2, 1e-6) << attention_mode_name(mode) << " at " << p;
    }
    EXPECT_EQ(sized->length, 130);
  }
}

// Model cases measure each attention mode's own peak memory: the scratch a forward
// keeps for the next one (grown to the largest so far) must go when asked, and the
// next forward, allocating it again, gives the same logits.
TEST(CudaModel, ReleasedScratchIsFreedAndTheNextForwardIsTheSame) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const auto gpu = make_cuda_model(w, DType::bf16);
  const std::vector<std::int32_t> toks = random_tokens(40, w.config.vocab, 5);
  const auto in_use = [] {  // the peak, restarted, is what is allocated now
    reset_device_memory_peak();
    return device_memory_peak();
  };
  const HostTensor<float> a = gpu->run_tokens(toks, *gpu->make_cache(), AttentionMode::dense, nullptr);
  const std::int64_t kept = in_use();
  gpu->release_scratch();
  const std::int64_t released = in_use();
  EXPECT_LE(released + (64 << 20), kept) << "the arena's first chunk alone is 64 MB";
  const HostTensor<float> b = gpu->run_tokens(toks, *gpu->make_cache(), AttentionMode::dense, nullptr);
  EXPECT_LT(compare_values(b.span(), a.span(), 0, 0).rel_l2, 1e-6);
}

TEST(CudaModel, SaysWhyItCannotRunAShape) {
  REQUIRE_CUDA_DEVICE();
  ModelWeights w = tiny_weights();
  w.config.qk_rope = 8;  // d_qk 136: no kernel instance for it
  try {
    make_cuda_model(w, DType::bf16);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("kernel"), std::string::npos) << e.what();
  }
}

// The other top-k kernels in the forward: top-k is exact in every kernel, so the
// selection, and with it every logit, is what the default kernel gives.
// The GPU forward with each top-k kernel the registry lists (the validated ones, or with
// first_runs those not yet validated, as the kernel tests' first-run suites) against the
// default's: the same selections, so the same logits.
void expect_every_topk_kernel_gives_the_same_forward(bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const std::vector<std::int32_t> toks = random_tokens(300, w.config.vocab, 7);
  const HostTensor<float> ref = run(*make_cuda_model(w, DType::bf16), toks, 296, 96, AttentionMode::dsa);
  int tried = 0;
  for (const auto& v : cuda_topk_variants()) {
    if ((v.not_validated == nullptr) == first_runs || (first_runs && !first_run_selected(v.name))) continue;
    ++tried;
    CudaKernelChoice k;
    k.topk = v.name;
    const auto m = make_cuda_model(w, DType::bf16, k);
    EXPECT_NE(m->implementation().find(v.name), std::string::npos) << m->implementation();
    const HostTensor<float> got = run(*m, toks, 296, 96, AttentionMode::dsa);
    EXPECT_LE(compare_values(got.span(), ref.span(), 0, 0).rel_l2, 1e-6) << v.name;
  }
  if (first_runs && tried == 0) GTEST_SKIP() << "no CUDA top-k variant awaits validation (or none is the one named)";
  if (!first_runs) {
    EXPECT_GE(tried, 3) << "the sampled, radix and split kernels";
  }
}

TEST(CudaModel, EveryTopkKernelGivesTheSameForward) { expect_every_topk_kernel_gives_the_same_forward(false); }
TEST(CudaFirstRunTopk, ModelForwardIsTheSameWithIt) { expect_every_topk_kernel_gives_the_same_forward(true); }

// Every CUDA kernel the registry lists is one the GPU forward can be told to run (and
// picks by the registry's order), so promoting a kernel in kernels/cuda/variants.cpp
// reaches the model too. Host only.
template <class Args>
void expect_model_runs_every(const std::vector<Variant<Args>>& registry, const std::string& stage) {
  const std::vector<std::string> names = cuda_model_kernel_names(stage);
  for (const auto& v : registry)
    EXPECT_NE(std::find(names.begin(), names.end(), v.name), names.end())
        << stage << ": the GPU forward cannot run " << v.name << " (model/cuda/cuda_model.cpp, kernel_options)";
  EXPECT_EQ(names.size(), registry.size()) << stage << ": the forward names a kernel the registry does not list";
}

TEST(CudaLaunchPlan, ModelCanRunEveryRegisteredKernel) {
  expect_model_runs_every(cuda_indexer_variants(), "indexer");
  expect_model_runs_every(cuda_topk_variants(), "topk");
  expect_model_runs_every(cuda_sparse_mqa_variants(), "sparse_attention");
  expect_model_runs_every(cuda_dense_mqa_variants(), "dense_attention_mqa");
  expect_model_runs_every(cuda_dense_mha_variants(), "dense_attention_mha");
  EXPECT_THROW(cuda_model_kernel_names("attention"), std::invalid_argument);
}

// A kernel named for the forward must exist and take the model's shapes; dsa-tiny's
// are not the real ones the wgmma kernels are built for.
TEST(CudaModel, RefusesKernelsItCannotRun) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights();
  const auto refusal = [&](const CudaKernelChoice& k) -> std::string {
    try {
      make_cuda_model(w, DType::bf16, k);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  CudaKernelChoice k;
  k.indexer = "cuda.indexer.wgmma";
  EXPECT_NE(refusal(k).find("cuda.indexer.wgmma"), std::string::npos) << refusal(k);
  k = {};
  k.dense_attention_mha = "cuda.dense_mha.wgmma";
  EXPECT_NE(refusal(k).find("192 / 128"), std::string::npos) << refusal(k);
  k = {};
  k.indexer = "cuda.indexer.keyrows";  // dsa-tiny's indexer is 4 heads x 32
  EXPECT_NE(refusal(k).find("64 heads x 128"), std::string::npos) << refusal(k);
  k = {};
  k.sparse_attention = "cuda.sparse_mqa.fastest";
  EXPECT_NE(refusal(k).find("is not one of"), std::string::npos) << refusal(k);
}

}  // namespace
}  // namespace dsa::model
