#include "model/model.h"

#include <algorithm>

#include "core/check.h"

namespace dsa::model {

namespace {
// The outputs of each sequence, stacked in order.
HostTensor<float> stack(const std::vector<HostTensor<float>>& parts) {
  std::int64_t rows = 0;
  for (const auto& p : parts) rows += p.size(0);
  HostTensor<float> out({rows, parts.front().size(1)});
  float* dst = out.data();
  for (const auto& p : parts) dst = std::copy(p.data(), p.data() + p.numel(), dst);
  return out;
}
}  // namespace

std::vector<std::int32_t> batch_token_ids(const ModelConfig& c, const std::vector<std::span<const std::int32_t>>& tokens) {
  const std::size_t per_seq = tokens.front().size();
  std::vector<std::int32_t> ids;
  ids.reserve(per_seq * tokens.size());
  for (const auto& seq : tokens) {
    require(seq.size() == per_seq, "forward: the sequences of a batch bring the same number of tokens");
    for (const std::int32_t tok : seq) {
      require(tok >= 0 && tok < c.vocab, "forward: token id " + std::to_string(tok) + " outside the vocabulary");
      ids.push_back(tok);
    }
  }
  return ids;
}

std::vector<float> embed_tokens(const ModelConfig& c, const float* table,
                                const std::vector<std::span<const std::int32_t>>& tokens) {
  const std::vector<std::int32_t> ids = batch_token_ids(c, tokens);
  std::vector<float> x(ids.size() * static_cast<std::size_t>(c.hidden));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const float* row = table + static_cast<std::int64_t>(ids[i]) * c.hidden;
    std::copy(row, row + c.hidden, &x[i * static_cast<std::size_t>(c.hidden)]);
  }
  return x;
}

HostTensor<float> Model::run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                          const std::vector<ModelCache*>& caches, AttentionMode mode,
                                          OpTimes* times) const {
  require(!tokens.empty() && tokens.size() == caches.size(), "run_tokens_batch: one cache per sequence");
  std::vector<HostTensor<float>> parts;
  for (std::size_t b = 0; b < tokens.size(); ++b) parts.push_back(run_tokens(tokens[b], *caches[b], mode, times));
  return stack(parts);
}

HostTensor<float> Model::run_tokens_last(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                         OpTimes* times) const {
  const HostTensor<float> all = run_tokens(tokens, cache, mode, times);
  const std::int64_t w = all.size(1);
  HostTensor<float> last({1, w});
  std::copy(all.data() + (all.size(0) - 1) * w, all.data() + all.size(0) * w, last.data());
  return last;
}

HostTensor<float> Model::run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                          const std::vector<ModelCache*>& caches, AttentionMode mode,
                                          OpTimes* times) const {
  require(!hidden.empty() && hidden.size() == caches.size(), "run_hidden_batch: one cache per sequence");
  std::vector<HostTensor<float>> parts;
  for (std::size_t b = 0; b < hidden.size(); ++b) parts.push_back(run_hidden(*hidden[b], *caches[b], mode, times));
  return stack(parts);
}

}  // namespace dsa::model
