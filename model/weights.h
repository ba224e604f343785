// Model weights: which tensors a configuration needs (the published checkpoint's
// names), loading them from a checkpoint, and writing a synthetic checkpoint of the
// same shape. The CPU backend holds every matrix dequantised to fp32.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"

namespace dsa::model {

enum class TensorKind { linear, norm, bias, embedding, router, router_bias };

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  TensorKind kind;
};

// Layers [first, last) and whether the embeddings, final norm and LM head are wanted:
// a single real layer can be loaded from the full checkpoint without them.
struct LayerRange {
  int first = 0;
  int last = -1;  // -1: every layer
  bool with_head = true;
};

// The tensors the model needs for `range`, in checkpoint names, e.g.
// model.layers.3.self_attn.kv_b_proj.weight (FP8 linears also carry
// <name>_scale_inv, named .weight_scale_inv, one fp32 per 128 x 128 block).
std::vector<TensorSpec> expected_tensors(const ModelConfig& c, const LayerRange& range);

struct Matrix {  // [rows, cols], row-major fp32
  std::int64_t rows = 0, cols = 0;
  std::vector<float> data;
  const float* row(std::int64_t r) const { return data.data() + r * cols; }
};

struct LayerWeights {
  std::vector<float> input_norm, post_attention_norm;
  Matrix q_a, q_b, kv_a, kv_b, o;
  std::vector<float> q_a_norm, kv_a_norm;
  Matrix idx_wq_b, idx_wk, idx_weights;
  std::vector<float> idx_k_norm_weight, idx_k_norm_bias;
  bool moe = false;
  Matrix gate_proj, up_proj, down_proj;  // dense FFN, or the shared experts of an MoE layer
  Matrix router;
  std::vector<float> router_bias;
  std::vector<Matrix> expert_gate, expert_up, expert_down;
};

struct ModelWeights {
  ModelConfig config;
  LayerRange range;
  Matrix embed, lm_head;
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;  // layers[i] is model layer range.first + i
};

// Checks every expected tensor (present, known dtype, shape matching the config, FP8
// scales of the right shape) before converting any: a bad checkpoint throws
// CheckpointError naming the tensor, and nothing is returned half-loaded.
ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, LayerRange range = {});

// Values in the tensors of `specs` (the checkpoint's linear weights and all): what a
// model of that range holds in memory, at 4 bytes each on the CPU backend.
std::int64_t tensor_values(const std::vector<TensorSpec>& specs);

// A seeded synthetic checkpoint of the config's shape, written into `dir` as shards of
// at most `max_shard_bytes` with model.safetensors.index.json and config.json.
// `linear_dtype` is BF16, F32 or F8_E4M3 (FP8 linears get 128 x 128 block scales).
// `range` limits it to the tensors of those layers (and the head when it says so): one
// layer of the 671B-parameter real dimensions is about 11 GB in FP8, the whole model
// about 690 GB. Each tensor's values come from the seed and its name alone, so a
// partial checkpoint holds exactly what the whole one holds for its tensors. Shards are
// generated and written one at a time (memory: one shard), each shard's tensors in
// parallel.
// `on_shard(k, n)`, when given, is called after shard k of n is written (progress).
void write_synthetic_checkpoint(const ModelConfig& c, const std::string& dir, std::uint64_t seed,
                                StDtype linear_dtype = StDtype::BF16, std::size_t max_shard_bytes = 64u << 20,
                                const LayerRange& range = {},
                                const std::function<void(std::size_t, std::size_t)>& on_shard = {});

// The bytes of tensor data write_synthetic_checkpoint writes for these arguments
// (the index's total_size), computed without generating anything.
std::uint64_t synthetic_checkpoint_bytes(const ModelConfig& c, StDtype linear_dtype, const LayerRange& range = {});

}  // namespace dsa::model
