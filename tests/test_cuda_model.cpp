// The GPU forward against the CPU forward on dsa-tiny (ctest label "gpu"; skipped
// without a device). Same synthetic weights and tokens, dense and DSA, a chunked
// prefill then decode steps. The GPU rounds every matrix product's inputs to bf16 and
// the CPU does not, so logits agree to the bf16 level, not bit for bit: the bounds
// below (relative L2 of all logits, top-1 agreement) leave room for that and for a
// DSA selection that flips on a near-tie, and fail on any real mistake (a wrong
// layout, cache offset or mask moves the logits by O(1)).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/metrics.h"
#include "core/rng.h"
#include "cuda_test_util.h"
#include "model/forward.h"
#include "test_util.h"

namespace dsa::model {
namespace {

const ModelWeights& tiny_weights_gpu_test() {
  static const ModelWeights w = [] {
    const std::string d = test::scratch_path("gpu-forward-tiny");
    std::filesystem::remove_all(d);
    write_synthetic_checkpoint(preset_config("dsa-tiny"), d, 42);
    return load_weights(preset_config("dsa-tiny"), *Checkpoint::open(d));
  }();
  return w;
}

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

TEST(CudaModel, ForwardMatchesTheCpuForwardOnDsaTiny) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights_gpu_test();
  for (const DType cache : {DType::bf16}) {
    const CpuModel cpu(w, cache);
    const auto gpu = make_cuda_model(w, cache);
    Rng rng(5);
    std::vector<std::int32_t> toks(300);
    for (auto& t : toks) t = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(w.config.vocab)));
    for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
      const HostTensor<float> a = run(*gpu, toks, 296, 96, mode), b = run(cpu, toks, 296, 96, mode);
      const ValueReport v = compare_values(a.span(), b.span(), 0, 0);
      EXPECT_LT(v.rel_l2, 0.05) << attention_mode_name(mode);
      std::int64_t agree = 0;
      const std::int64_t V = w.config.vocab;
      for (std::int64_t r = 0; r < a.size(0); ++r) {
        const auto top = [&](const HostTensor<float>& t) {
          return std::max_element(t.data() + r * V, t.data() + (r + 1) * V) - (t.data() + r * V);
        };
        agree += top(a) == top(b);
      }
      EXPECT_GE(static_cast<double>(agree) / static_cast<double>(a.size(0)), 0.8) << attention_mode_name(mode);
    }
  }
}

// A decode step of several sequences (at different positions) in one pass on the GPU
// gives each sequence what the CPU forward gives it.
TEST(CudaModel, BatchedDecodeStepMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  const ModelWeights& w = tiny_weights_gpu_test();
  const CpuModel cpu(w, DType::bf16);
  const auto gpu = make_cuda_model(w, DType::bf16);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    std::vector<std::unique_ptr<ModelCache>> gc, cc;
    std::vector<std::vector<std::int32_t>> toks;
    Rng rng(11);
    for (int b = 0; b < 3; ++b) {
      toks.emplace_back(static_cast<std::size_t>(100 + 30 * b));
      for (auto& t : toks.back()) t = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(w.config.vocab)));
      gc.push_back(gpu->make_cache());
      cc.push_back(cpu.make_cache());
      const auto prompt = std::span<const std::int32_t>(toks.back()).first(toks.back().size() - 1);
      gpu->run_tokens(prompt, *gc.back(), mode, nullptr);
      cpu.run_tokens(prompt, *cc.back(), mode, nullptr);
    }
    std::vector<std::span<const std::int32_t>> step;
    std::vector<ModelCache*> gp, cp;
    for (int b = 0; b < 3; ++b) {
      step.push_back(std::span<const std::int32_t>(toks[b]).last(1));
      gp.push_back(gc[b].get());
      cp.push_back(cc[b].get());
    }
    const HostTensor<float> a = gpu->run_tokens_batch(step, gp, mode, nullptr);
    const HostTensor<float> b = cpu.run_tokens_batch(step, cp, mode, nullptr);
    EXPECT_LT(compare_values(a.span(), b.span(), 0, 0).rel_l2, 0.05) << attention_mode_name(mode);
  }
}

TEST(CudaModel, SaysWhyItCannotRunAShape) {
  REQUIRE_CUDA_DEVICE();
  ModelWeights w = tiny_weights_gpu_test();
  w.config.qk_rope = 8;  // d_qk 136: no kernel instance for it
  try {
    make_cuda_model(w, DType::bf16);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("kernel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsa::model
