// A model the runner can drive, whatever runs it: the CPU forward (model/forward.h) or
// the GPU one (model/cuda/). Both take the same weights and tokens and keep their own
// caches, so model cases compare dense and DSA, and GPU against CPU, the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "model/weights.h"

namespace dsa::model {

enum class AttentionMode { dense, dsa };
const char* attention_mode_name(AttentionMode m);

// Wall-clock seconds spent per kind of op, summed over calls.
struct OpTimes {
  double matmul = 0, indexer = 0, topk = 0, attention = 0, other = 0;
  double total() const { return matmul + indexer + topk + attention + other; }
  OpTimes& operator+=(const OpTimes& o);
};

// One sequence's caches; what they hold depends on the model that made them.
struct ModelCache {
  virtual ~ModelCache() = default;
  // Room for `tokens` positions filled in `mode`, allocated now, as a server sizes a
  // sequence's cache before it starts. A cache grown as tokens arrive copies itself and
  // holds both copies meanwhile (a 128K cache doubling from 64K: 1.5 times its size),
  // which a timed forward and a peak-memory figure would then include.
  virtual void reserve(std::int64_t tokens, AttentionMode mode) {
    (void)tokens;
    (void)mode;
  }
  std::int64_t length = 0;  // tokens cached so far
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual DType cache_dtype() const = 0;
  virtual bool has_head() const = 0;
  virtual int loaded_layers() const = 0;
  virtual std::string implementation() const = 0;
  virtual std::unique_ptr<ModelCache> make_cache() const = 0;
  // Tokens at positions [cache.length, cache.length + n) -> logits [n, vocab].
  virtual HostTensor<float> run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                       OpTimes* times) const = 0;
  // The same forward as a server runs a prefill chunk: logits of the last position
  // only, [1, vocab]. The caches end up as after run_tokens. By default the logits of
  // every position are computed and the last kept; a model that can skip the rest
  // (the head is a vocab-wide product per row, plus the copy back) overrides it.
  virtual HostTensor<float> run_tokens_last(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                            OpTimes* times) const;
  // Hidden states [n, hidden] through the loaded layers -> hidden states.
  virtual HostTensor<float> run_hidden(const HostTensor<float>& hidden, ModelCache& cache, AttentionMode mode,
                                       OpTimes* times) const = 0;
  // A batch of sequences, the same number of positions each (a decode step: one):
  // outputs [sum of positions, width], the sequences' rows in order. By default the
  // sequences run one after another; a model that batches overrides these.
  virtual HostTensor<float> run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                             const std::vector<ModelCache*>& caches, AttentionMode mode,
                                             OpTimes* times) const;
  virtual HostTensor<float> run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                             const std::vector<ModelCache*>& caches, AttentionMode mode,
                                             OpTimes* times) const;
  // Frees the working memory a forward keeps for the next one (the GPU forward's
  // scratch grows to the largest forward so far), so the peak memory measured for one
  // attention mode does not carry the other's. The next forward allocates it again.
  virtual void release_scratch() const {}
};

// The token ids of a batch of sequences, the sequences in order. Every sequence must
// bring the same number of tokens and every id must lie in the vocabulary; the error
// names the first that does not.
std::vector<std::int32_t> batch_token_ids(const ModelConfig& c, const std::vector<std::span<const std::int32_t>>& tokens);

// The embedding rows [sum of positions, hidden] of such a batch (batch_token_ids'
// checks), from a [vocab, hidden] table.
std::vector<float> embed_tokens(const ModelConfig& c, const float* table,
                                const std::vector<std::span<const std::int32_t>>& tokens);

// Which CUDA kernel the GPU forward runs for each attention op, by the registry's
// variant names (e.g. "cuda.topk.sample", "cuda.sparse_mqa.wgmma"); an empty name takes
// the default, the first (validated) variant. Lets a model case time the pipeline with
// kernels under evaluation, as a sweep's "implementations" do.
struct CudaKernelChoice {
  std::string indexer, topk, sparse_attention, dense_attention_mqa, dense_attention_mha;
};

// The GPU forward (model/cuda/cuda_model.cpp). Throws std::runtime_error naming the
// reason where it cannot run: a build without CUDA, no device, shapes its kernels do
// not take, a kernel name it does not know.
std::unique_ptr<Model> make_cuda_model(const ModelWeights& w, DType cache_dtype, const CudaKernelChoice& kernels = {});

// The registry names of the kernels the GPU forward can run for a stage ("indexer",
// "topk", "sparse_attention", "dense_attention_mqa", "dense_attention_mha"; as
// CudaKernelChoice's fields); empty in a build without CUDA.
std::vector<std::string> cuda_model_kernel_names(const std::string& stage);

}  // namespace dsa::model
