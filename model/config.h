// A DeepSeek-V3.2-architecture model's configuration, read from a Hugging Face
// config.json (dsa-spec.md section 1). Unknown keys are ignored; a missing or ill-typed
// required key is an error naming the file and the key.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsa::model {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

struct RopeScaling {
  bool yarn = false;              // "type": "yarn" (anything absent: plain RoPE)
  double factor = 1.0;
  std::int64_t original_max_position = 4096;
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 1.0, mscale_all_dim = 1.0;
};

struct ModelConfig {
  std::string name;               // preset name or file path, for messages and records
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int q_lora_rank = 0;
  int kv_lora_rank = 0;
  int qk_nope = 0, qk_rope = 0, v_head = 0;
  int index_heads = 0, index_head_dim = 0;
  std::int64_t index_topk = 0;
  int intermediate = 0;           // dense FFN
  int moe_intermediate = 0;
  int routed_experts = 0;         // 0: every layer has the dense FFN
  int shared_experts = 0;
  int experts_per_token = 0;
  int expert_groups = 1, topk_groups = 1;
  double routed_scaling = 1.0;
  int first_dense_layers = 0;     // first_k_dense_replace
  int vocab = 0;
  double rms_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope;

  int qk_head_dim() const { return qk_nope + qk_rope; }
  bool layer_is_moe(int layer) const { return routed_experts > 0 && layer >= first_dense_layers; }
  // qk_head_dim^-0.5 * mscale^2, mscale = 0.1 * mscale_all_dim * ln(factor) + 1 under YaRN.
  double softmax_scale() const;
  // YaRN's attention-magnitude correction alone (1 without YaRN).
  double yarn_mscale() const;
  // Parameter count (weights), for reports.
  double parameters() const;
};

// From a parsed config.json; `source` names it in messages.
ModelConfig parse_config(const nlohmann::json& j, const std::string& source);
ModelConfig load_config(const std::string& path);
// The Hugging Face config.json of a configuration (what parse_config reads back).
nlohmann::json config_to_json(const ModelConfig& c);

// A preset shipped with the repository (model/presets/NAME.json): deepseek-v3.2-exp,
// dsa-small, dsa-tiny. Throws ConfigError listing the presets for an unknown name.
ModelConfig preset_config(const std::string& name);
std::string presets_dir();
// Where presets_dir() looks: `env` (DSA_PRESETS_DIR) when set, else `built` (next to the
// build's sources), else model/presets in the current folder when `built` is missing.
std::string find_presets_dir(const char* env, const std::string& built);
std::vector<std::string> preset_names();  // sorted
// A case's "model": a config.json path when it has a "/" or ends in ".json" (read from
// the current folder when relative), else a preset's name.
bool names_config_file(const std::string& model);
ModelConfig model_config(const std::string& model);

}  // namespace dsa::model
