// The forward pass of a DeepSeek-V3.2-architecture model on the CPU, in two attention
// modes (dsa-spec.md section 6):
//   dense: MHA-mode attention for prefill chunks, MQA-mode over the whole cache for
//          single-token decode (how V3.1-Terminus runs);
//   dsa:   indexer + top-k + sparse MQA-mode attention (how V3.2-Exp runs).
// Per layer: RMSNorm, MLA (+ indexer), residual, RMSNorm, FFN (SwiGLU; MoE with
// DeepSeek's grouped sigmoid routing), residual; then the final norm and the LM head.
// Activations are fp32; matrix products use the fp32 CPU matmul and attention uses the
// CPU backend's kernels. The MLA cache holds [c_kv | k_rope] as bf16 or in the FP8 layout, the
// indexer cache the keys after Hadamard rotation and FP8 quantisation (dequantised).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "model/model.h"
#include "model/weights.h"

namespace dsa::model {

// The caches of one sequence: for each loaded layer, the MLA latent rows and the indexer keys.
struct SequenceCache : ModelCache {
  std::vector<std::vector<float>> latent;  // [layer][length * (kv_rank + qk_rope)]
  std::vector<std::vector<float>> index_keys;  // [layer][length * index_head_dim]
  std::int64_t latent_row = 0, index_row = 0;  // values per token: kv_rank + qk_rope, index_head_dim
  void reserve(std::int64_t tokens, AttentionMode mode) override;
  // Bytes a GPU cache would hold per token per layer (latent in `dtype`, FP8 indexer keys).
  static std::int64_t latent_bytes_per_token(const ModelConfig& c, DType dtype = DType::bf16);
  static std::int64_t index_bytes_per_token(const ModelConfig& c);
};

class CpuModel final : public Model {
 public:
  // cache_dtype: bf16 (1152 bytes per token per layer at the real shapes) or fp8, the
  // 656-byte FlashMLA layout of core/mla_cache.h (kv_rank must be a multiple of 128).
  explicit CpuModel(ModelWeights w, DType cache_dtype = DType::bf16);
  DType cache_dtype() const override { return cache_dtype_; }
  const ModelConfig& config() const override { return w_.config; }
  std::string implementation() const override { return "model.cpu.fp32"; }
  SequenceCache new_cache() const;
  std::unique_ptr<ModelCache> make_cache() const override { return std::make_unique<SequenceCache>(new_cache()); }
  HostTensor<float> run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                               OpTimes* times) const override;
  HostTensor<float> run_hidden(const HostTensor<float>& hidden, ModelCache& cache, AttentionMode mode,
                               OpTimes* times) const override;
  HostTensor<float> run_tokens_last(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                    OpTimes* times) const override;
  // A batch in one pass: the projections, output product and FFN run on the rows of all
  // sequences together (as a server batches); attention runs per sequence on its cache.
  HostTensor<float> run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                     const std::vector<ModelCache*>& caches, AttentionMode mode,
                                     OpTimes* times) const override;
  HostTensor<float> run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                     const std::vector<ModelCache*>& caches, AttentionMode mode,
                                     OpTimes* times) const override;

  // Runs `tokens` at positions [cache.length, cache.length + n) through the model,
  // appending to the cache; returns the logits [n, vocab]. A prefill is one call or
  // several chunks; a decode step is a call with one token.
  HostTensor<float> forward(std::span<const std::int32_t> tokens, SequenceCache& cache, AttentionMode mode,
                            OpTimes* times = nullptr) const;

  // Runs hidden states [n, hidden] through the loaded layers (all of them, or the range a
  // single real layer was loaded with) and returns the hidden states they produce.
  HostTensor<float> forward_hidden(const HostTensor<float>& hidden, SequenceCache& cache, AttentionMode mode,
                                   OpTimes* times = nullptr) const;
  bool has_head() const override { return w_.range.with_head; }
  int loaded_layers() const override { return static_cast<int>(w_.layers.size()); }
  const ModelWeights& weights() const { return w_; }
  const LayerRange& layer_range() const { return w_.range; }

 private:
  // Rows [first, first + count) of a layer's input belong to `cache`'s sequence.
  struct SeqRows {
    SequenceCache* cache;
    std::int64_t first, count;
  };
  void run_layers(std::vector<float>& x, const std::vector<SeqRows>& seqs, AttentionMode mode, OpTimes& t) const;
  void layer(int li, std::vector<float>& x, const std::vector<SeqRows>& seqs, AttentionMode mode, OpTimes& t) const;
  std::vector<SeqRows> batch_rows(const std::vector<ModelCache*>& caches, std::int64_t per_seq) const;
  HostTensor<float> head(std::vector<float>& x, std::int64_t n, OpTimes& t) const;
  // Embeds each sequence's tokens and runs them through the layers: the final hidden
  // states of all rows, the sequences in order.
  std::vector<float> embed_and_run(const std::vector<std::span<const std::int32_t>>& tokens,
                                   const std::vector<ModelCache*>& caches, AttentionMode mode, OpTimes& t) const;
  ModelWeights w_;
  DType cache_dtype_;
  std::vector<double> rope_freqs_, index_rope_freqs_;
};

}  // namespace dsa::model
