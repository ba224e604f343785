// The model's forward on dsa-tiny with synthetic weights: invariants between ways of
// computing the same thing (prefill + decode vs one prefill, chunked vs unchunked,
// DSA with top-k covering the context vs dense), and that DSA differs where it must.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/metrics.h"
#include "core/rng.h"
#include "kernels/cuda_device.h"
#include "model/forward.h"
#include "model/rope.h"
#include "test_util.h"
#include "tiny_model.h"

namespace dsa::model {
namespace {

TEST(Rope, YarnKeepsHighFrequenciesAndDividesLowOnes) {
  // DeepSeek-V3.2-Exp: d = 64, theta 1e4, factor 40, original 4096, beta 32 / 1.
  // Correction dims: 64 ln(4096 / (32 * 2 pi)) / (2 ln 1e4) = 10.47 -> 10, and
  // 64 ln(4096 / (2 pi)) / (2 ln 1e4) = 22.5 -> 23.
  const ModelConfig c = preset_config("deepseek-v3.2-exp");
  const std::vector<double> f = rope_frequencies(c, 64);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i <= 10; ++i) EXPECT_DOUBLE_EQ(f[i], 1.0 / std::pow(1e4, i / 32.0)) << i;
  for (int i = 23; i < 32; ++i) EXPECT_NEAR(f[i], 1.0 / std::pow(1e4, i / 32.0) / 40.0, 1e-15) << i;
  const double plain = 1.0 / std::pow(1e4, 16 / 32.0);  // inside the ramp: between the two
  EXPECT_LT(f[16], plain);
  EXPECT_GT(f[16], plain / 40.0);
}

TEST(Rope, BothLayoutsKeepNormsAndDependOnRelativePositionOnly) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::vector<double> f = rope_frequencies(c, 16);
  Rng rng(1);
  std::vector<float> q(16), k(16);
  rng.fill_normal(q);
  rng.fill_normal(k);
  for (auto apply : {rope_interleaved, rope_half_split}) {
    auto dot_at = [&](std::int64_t pq, std::int64_t pk) {
      std::vector<float> a = q, b = k;
      apply(a.data(), 16, pq, f);
      apply(b.data(), 16, pk, f);
      double d = 0;
      for (int i = 0; i < 16; ++i) d += static_cast<double>(a[i]) * b[i];
      return d;
    };
    EXPECT_NEAR(dot_at(100, 90), dot_at(1010, 1000), 1e-4);
    EXPECT_GT(std::fabs(dot_at(100, 90) - dot_at(100, 50)), 1e-3);
  }
  // The layouts pair different elements: the same rotation gives different vectors.
  std::vector<float> a = q, b = q;
  rope_interleaved(a.data(), 16, 7, f);
  rope_half_split(b.data(), 16, 7, f);
  EXPECT_NE(a, b);
}

using test::tiny_checkpoint;
using test::tiny_weights;

std::vector<std::int32_t> tokens(std::int64_t n, int vocab, std::uint64_t seed = 9) {
  return test::random_tokens(n, vocab, seed);
}

// max |a - b| / max |b| over one row of logits each.
double row_diff(const HostTensor<float>& a, std::int64_t ra, const HostTensor<float>& b, std::int64_t rb) {
  double d = 0, m = 0;
  for (std::int64_t i = 0; i < a.size(1); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a(ra, i) - b(rb, i))));
    m = std::max(m, static_cast<double>(std::fabs(b(rb, i))));
  }
  return d / m;
}

}  // namespace
void PrintTo(AttentionMode m, std::ostream* os) { *os << attention_mode_name(m); }
namespace {

class ModelForward : public ::testing::TestWithParam<AttentionMode> {};

TEST_P(ModelForward, PrefillThenDecodeEqualsOneLongerPrefill) {
  const CpuModel m(tiny_weights());
  const auto tok = tokens(130, m.config().vocab);
  SequenceCache a = m.new_cache(), b = m.new_cache();
  const HostTensor<float> full = m.forward(tok, a, GetParam());
  m.forward(std::span(tok).first(127), b, GetParam());
  for (int i = 127; i < 130; ++i) {
    const HostTensor<float> step = m.forward(std::span(tok).subspan(static_cast<std::size_t>(i), 1), b, GetParam());
    EXPECT_LT(row_diff(step, 0, full, i), 1e-4) << "decode step at position " << i;
  }
  EXPECT_EQ(b.length, 130);
}

TEST_P(ModelForward, ChunkedPrefillEqualsUnchunked) {
  const CpuModel m(tiny_weights());
  const auto tok = tokens(150, m.config().vocab, 3);
  SequenceCache a = m.new_cache(), b = m.new_cache();
  const HostTensor<float> full = m.forward(tok, a, GetParam());
  std::int64_t pos = 0;
  for (std::int64_t chunk : {40, 1, 59, 50}) {
    const HostTensor<float> part = m.forward(std::span(tok).subspan(static_cast<std::size_t>(pos), static_cast<std::size_t>(chunk)), b, GetParam());
    for (std::int64_t r = 0; r < chunk; ++r) ASSERT_LT(row_diff(part, r, full, pos + r), 1e-4) << "position " << pos + r;
    pos += chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, ModelForward, ::testing::Values(AttentionMode::dense, AttentionMode::dsa),
                         [](const ::testing::TestParamInfo<AttentionMode>& i) { return std::string(attention_mode_name(i.param)); });

TEST(ModelForwardDsa, EqualsDenseWhenTopkCoversTheContext) {
  ModelWeights w = tiny_weights();
  w.config.index_topk = 4096;  // every key selected
  const CpuModel m(std::move(w));
  const auto tok = tokens(150, m.config().vocab, 4);
  SequenceCache a = m.new_cache(), b = m.new_cache();
  const HostTensor<float> dense = m.forward(tok, a, AttentionMode::dense);
  const HostTensor<float> dsa = m.forward(tok, b, AttentionMode::dsa);
  // Different association orders (absorbed MQA vs expanded MHA in fp32): not bit-equal.
  for (std::int64_t r = 0; r < 150; ++r) ASSERT_LT(row_diff(dsa, r, dense, r), 1e-3) << "position " << r;
}

TEST(ModelForwardDsa, DiffersFromDenseOnlyPastTheTopk) {
  const CpuModel m(tiny_weights());  // top-k 64
  const auto tok = tokens(200, m.config().vocab, 5);
  SequenceCache a = m.new_cache(), b = m.new_cache();
  const HostTensor<float> dense = m.forward(tok, a, AttentionMode::dense);
  const HostTensor<float> dsa = m.forward(tok, b, AttentionMode::dsa);
  // Up to 64 keys per query everything is selected; from then on the selection drops
  // keys, and the logits must show it.
  for (std::int64_t r = 0; r < 64; ++r) ASSERT_LT(row_diff(dsa, r, dense, r), 1e-3) << r;
  double later = 0;
  for (std::int64_t r = 100; r < 200; ++r) later = std::max(later, row_diff(dsa, r, dense, r));
  EXPECT_GT(later, 1e-3);
}

TEST(ModelForwardDsa, Fp8LatentCacheQuantisesOnlyTheLatent) {
  const CpuModel bf16(tiny_weights()), fp8(tiny_weights(), DType::fp8_e4m3);
  const auto tok = tokens(120, bf16.config().vocab, 6);
  SequenceCache a = bf16.new_cache(), b = fp8.new_cache();
  const HostTensor<float> x = bf16.forward(tok, a, AttentionMode::dense), y = fp8.forward(tok, b, AttentionMode::dense);
  // Layer 0 sees identical inputs in both models, so its cache rows differ only by the
  // storage: e4m3 with per-128 scales for the latent (a few percent), bf16 for the rope
  // part in both (identical).
  const int rank = bf16.config().kv_lora_rank, dl = rank + bf16.config().qk_rope;
  const auto& la = a.latent[0];
  const auto& lb = b.latent[0];
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    if (static_cast<int>(i % dl) >= rank) {
      ASSERT_EQ(la[i], lb[i]) << "rope value " << i;
      continue;
    }
    err += (la[i] - lb[i]) * (la[i] - lb[i]);
    ref += la[i] * la[i];
  }
  EXPECT_GT(std::sqrt(err / ref), 1e-3);
  EXPECT_LT(std::sqrt(err / ref), 0.05);
  EXPECT_EQ(SequenceCache::latent_bytes_per_token(fp8.config(), DType::fp8_e4m3), 128 + 4 + 32);
  // End to end the perturbation is amplified (random layers, MoE routing flips), so
  // only sanity is asserted there: finite, and changed.
  double d = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(y.data()[i]));
    d = std::max(d, static_cast<double>(std::fabs(x.data()[i] - y.data()[i])));
  }
  EXPECT_GT(d, 1e-6);
}

TEST(ModelLayers, ALayerRangeRunsAloneAndRangesChain) {
  // Layers [0, 1) then [1, 3) on hidden states equal [0, 3) in one model: what lets a
  // user run one real layer of a full checkpoint.
  const ModelConfig c = preset_config("dsa-tiny");
  const auto ck = Checkpoint::open(tiny_checkpoint());
  const CpuModel all(load_weights(c, *ck, {0, 3, false})), first(load_weights(c, *ck, {0, 1, false})),
      rest(load_weights(c, *ck, {1, 3, false}));
  EXPECT_FALSE(all.has_head());
  HostTensor<float> x({100, c.hidden});
  Rng rng(8);
  rng.fill_normal(x.span());
  for (AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    SequenceCache ca = all.new_cache(), c1 = first.new_cache(), c2 = rest.new_cache();
    const HostTensor<float> y = all.forward_hidden(x, ca, mode);
    const HostTensor<float> z = rest.forward_hidden(first.forward_hidden(x, c1, mode), c2, mode);
    for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data()[i], z.data()[i]) << attention_mode_name(mode) << " " << i;
  }
  // Token input needs the embeddings: a layer range refuses it with a clear message.
  SequenceCache cc = all.new_cache();
  const std::vector<std::int32_t> tok = {1, 2};
  EXPECT_THROW(all.forward(tok, cc, AttentionMode::dense), std::invalid_argument);
}

TEST(ModelForwardDsa, ACacheStaysInOneMode) {
  const CpuModel m(tiny_weights());
  const auto tok = tokens(10, m.config().vocab);
  SequenceCache c = m.new_cache();
  m.forward(tok, c, AttentionMode::dense);
  EXPECT_THROW(m.forward(std::span(tok).first(1), c, AttentionMode::dsa), std::invalid_argument);
}

TEST(ModelForwardDsa, RejectsTokensOutsideTheVocabulary) {
  const CpuModel m(tiny_weights());
  SequenceCache c = m.new_cache();
  const std::vector<std::int32_t> bad = {1, 512};
  EXPECT_THROW(m.forward(bad, c, AttentionMode::dense), std::invalid_argument);
}

// Through the Model interface (what the runner uses): the same logits as the direct
// call, and a cache made by another kind of model is refused, not misread.
TEST(ModelInterface, RunTokensIsForwardAndForeignCachesAreRefused) {
  const CpuModel m(tiny_weights());
  const Model& as_model = m;
  const auto tok = tokens(20, m.config().vocab);
  SequenceCache direct = m.new_cache();
  const auto cache = as_model.make_cache();
  const HostTensor<float> a = m.forward(tok, direct, AttentionMode::dsa);
  const HostTensor<float> b = as_model.run_tokens(tok, *cache, AttentionMode::dsa, nullptr);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_TRUE(std::equal(a.span().begin(), a.span().end(), b.span().begin()));
  EXPECT_EQ(cache->length, 20);
  EXPECT_EQ(as_model.implementation(), "model.cpu.fp32");
  struct Foreign : ModelCache {};
  Foreign f;
  EXPECT_THROW(as_model.run_tokens(tok, f, AttentionMode::dense, nullptr), std::invalid_argument);
}

// A prefill chunk as a server runs it: the last position's logits, the same as the
// last row of every position's, and the cache as after a full run (the next chunk
// gives the same logits either way).
TEST(ModelInterface, LastPositionLogitsAreTheLastRowAndLeaveTheSameCache) {
  const CpuModel m(tiny_weights());
  const auto tok = tokens(30, m.config().vocab);
  const auto first = std::span<const std::int32_t>(tok).first(20), next = std::span<const std::int32_t>(tok).last(10);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    const auto full = m.make_cache(), last = m.make_cache();
    const HostTensor<float> a = m.run_tokens(first, *full, mode, nullptr);
    OpTimes t;
    const HostTensor<float> b = m.run_tokens_last(first, *last, mode, &t);
    const std::int64_t V = m.config().vocab;
    ASSERT_EQ(b.shape(), Shape({1, V}));
    // Equal up to summation order (the product kernel blocks one row differently).
    EXPECT_LT(compare_values(b.span(), std::span<const float>(a.data() + 19 * V, static_cast<std::size_t>(V)), 0, 0).rel_l2,
              1e-6);
    EXPECT_EQ(last->length, 20);
    EXPECT_GT(t.matmul, 0.0);
    const HostTensor<float> a2 = m.run_tokens(next, *full, mode, nullptr), b2 = m.run_tokens(next, *last, mode, nullptr);
    EXPECT_TRUE(std::equal(a2.span().begin(), a2.span().end(), b2.span().begin())) << attention_mode_name(mode);
  }
}

// A cache sized up front (as the runner sizes each sequence's before its prefill) holds
// every later token where it was first allocated, and the logits are those of a cache
// grown token by token.
TEST(ModelInterface, AReservedCacheKeepsItsStorageAndGivesTheSameLogits) {
  const CpuModel m(tiny_weights());
  const auto tok = tokens(40, m.config().vocab);
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    const auto grown = m.make_cache(), sized = m.make_cache();
    sized->reserve(40, mode);
    const auto& s = dynamic_cast<const SequenceCache&>(*sized);
    const float* latent = s.latent.front().data();
    const float* keys = s.index_keys.front().data();
    EXPECT_NE(latent, nullptr);
    EXPECT_EQ(keys == nullptr, mode == AttentionMode::dense) << "dense mode keeps no indexer keys";
    for (std::int64_t p = 0; p < 40; p += p < 32 ? 32 : 1) {  // a prefill chunk, then decode steps
      const std::int64_t n = p < 32 ? 32 : 1;
      const auto part = std::span<const std::int32_t>(tok).subspan(static_cast<std::size_t>(p), static_cast<std::size_t>(n));
      const HostTensor<float> a = m.run_tokens(part, *grown, mode, nullptr), b = m.run_tokens(part, *sized, mode, nullptr);
      EXPECT_TRUE(std::equal(a.span().begin(), a.span().end(), b.span().begin())) << attention_mode_name(mode) << " at " << p;
    }
    EXPECT_EQ(s.latent.front().data(), latent) << attention_mode_name(mode) << ": the latent cache moved";
    if (mode == AttentionMode::dsa) {
      EXPECT_EQ(s.index_keys.front().data(), keys) << "the indexer keys moved";
    }
    EXPECT_EQ(sized->length, 40);
  }
}

// A decode step of several sequences in one pass (projections and FFN over all rows,
// attention per sequence) gives each sequence what stepping it alone gives.
TEST(ModelBatch, ABatchedDecodeStepEqualsOneSequenceAtATime) {
  const CpuModel m(tiny_weights());
  const int B = 5;
  for (const AttentionMode mode : {AttentionMode::dense, AttentionMode::dsa}) {
    std::vector<std::vector<std::int32_t>> toks;
    std::vector<SequenceCache> alone, together;
    for (int b = 0; b < B; ++b) {
      toks.push_back(tokens(90 + 7 * b + 1, m.config().vocab, 100 + b));  // different lengths: different positions
      const auto prompt = std::span<const std::int32_t>(toks.back()).first(toks.back().size() - 1);
      alone.push_back(m.new_cache());
      together.push_back(m.new_cache());
      m.forward(prompt, alone.back(), mode);
      m.forward(prompt, together.back(), mode);
    }
    std::vector<std::span<const std::int32_t>> step;
    std::vector<ModelCache*> caches;
    for (int b = 0; b < B; ++b) {
      step.push_back(std::span<const std::int32_t>(toks[b]).last(1));
      caches.push_back(&together[b]);
    }
    const HostTensor<float> batched = m.run_tokens_batch(step, caches, mode, nullptr);
    ASSERT_EQ(batched.size(0), B);
    for (int b = 0; b < B; ++b) {
      const HostTensor<float> one = m.forward(step[b], alone[b], mode);
      EXPECT_LT(row_diff(batched, b, one, 0), 1e-4) << attention_mode_name(mode) << " sequence " << b;
      EXPECT_EQ(together[b].length, alone[b].length);
    }
  }
}

// Without a device (or without the CUDA backend) the GPU forward says why it cannot
// run, so a model case moves on to the next backend instead of failing.
TEST(ModelInterface, GpuForwardWithoutADeviceSaysWhy) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present (the gpu tests cover the GPU forward)";
  try {
    make_cuda_model(tiny_weights(), DType::bf16);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    const std::string why = e.what();
    EXPECT_TRUE(why.find("no CUDA device") != std::string::npos || why.find("no CUDA backend") != std::string::npos) << why;
  }
}

}  // namespace
}  // namespace dsa::model
