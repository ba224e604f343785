#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/json_keys.h"

namespace dsa::model {

namespace {

using nlohmann::json;

std::string got(const json& j, const std::string& key) {
  if (!j.contains(key)) return "nothing (the key is missing)";
  return j.at(key).dump();
}

int get_int(const json& j, const std::string& key, const std::string& src, int lo, bool required = true, int def = 0) {
  if (!j.contains(key) || j.at(key).is_null()) {
    if (required) throw ConfigError(src + ": key \"" + key + "\": expected an integer >= " + std::to_string(lo) + ", got " + got(j, key));
    return def;
  }
  const json& v = j.at(key);
  if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > 2147483647)
    throw ConfigError(src + ": key \"" + key + "\": expected an integer >= " + std::to_string(lo) + ", got " + v.dump());
  return v.get<int>();
}

double get_num(const json& j, const std::string& key, const std::string& src, bool required = true, double def = 0) {
  if (!j.contains(key) || j.at(key).is_null()) {
    if (required) throw ConfigError(src + ": key \"" + key + "\": expected a number, got " + got(j, key));
    return def;
  }
  const json& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    throw ConfigError(src + ": key \"" + key + "\": expected a number, got " + v.dump());
  return v.get<double>();
}

// A number that divides or scales (an epsilon, a RoPE base, a scaling factor): zero or
// below would give infinities or a sign flip deep inside the forward, not an error here.
double get_positive(const json& j, const std::string& key, const std::string& src, bool required = true, double def = 1) {
  const double v = get_num(j, key, src, required, def);
  if (!(v > 0)) throw ConfigError(src + ": key \"" + key + "\": expected a number > 0, got " + j.at(key).dump());
  return v;
}

// A key whose other values would change the math (V3's routing, the SwiGLU FFN): absent
// means V3's value; another one is an error, not a forward that silently computes V3's.
void expect_value(const json& j, const std::string& key, const json& want, const std::string& src, const char* what) {
  if (!j.contains(key) || j.at(key).is_null() || j.at(key) == want) return;
  throw ConfigError(src + ": key \"" + key + "\": expected " + want.dump() + " (" + what + "), got " + j.at(key).dump());
}

}  // namespace

double ModelConfig::yarn_mscale() const {
  if (!rope.yarn || rope.factor <= 1.0) return 1.0;
  return 0.1 * rope.mscale_all_dim * std::log(rope.factor) + 1.0;
}

double ModelConfig::softmax_scale() const {
  const double m = yarn_mscale();
  return m * m / std::sqrt(static_cast<double>(qk_head_dim()));
}

double ModelConfig::parameters() const {
  const double h = hidden;
  const double attn = h * q_lora_rank + q_lora_rank + static_cast<double>(q_lora_rank) * heads * qk_head_dim() +
                      h * (kv_lora_rank + qk_rope) + kv_lora_rank +
                      static_cast<double>(kv_lora_rank) * heads * (qk_nope + v_head) + static_cast<double>(heads) * v_head * h;
  const double indexer = static_cast<double>(q_lora_rank) * index_heads * index_head_dim + h * index_head_dim +
                         2.0 * index_head_dim + h * index_heads;
  double total = 2.0 * h * vocab + h;  // embeddings, LM head, final norm
  for (int l = 0; l < layers; ++l) {
    total += attn + indexer + 2.0 * h;
    if (layer_is_moe(l))
      total += (routed_experts + shared_experts) * 3.0 * h * moe_intermediate + h * routed_experts + routed_experts;
    else
      total += 3.0 * h * intermediate;
  }
  return total;
}

ModelConfig parse_config(const json& j, const std::string& src) {
  if (!j.is_object()) throw ConfigError(src + ": expected a JSON object");
  ModelConfig c;
  c.name = src;
  c.hidden = get_int(j, "hidden_size", src, 1);
  c.layers = get_int(j, "num_hidden_layers", src, 1);
  c.heads = get_int(j, "num_attention_heads", src, 1);
  c.q_lora_rank = get_int(j, "q_lora_rank", src, 1);
  c.kv_lora_rank = get_int(j, "kv_lora_rank", src, 1);
  c.qk_nope = get_int(j, "qk_nope_head_dim", src, 1);
  c.qk_rope = get_int(j, "qk_rope_head_dim", src, 2);
  c.v_head = get_int(j, "v_head_dim", src, 1);
  c.index_heads = get_int(j, "index_n_heads", src, 1);
  c.index_head_dim = get_int(j, "index_head_dim", src, 2);
  c.index_topk = get_int(j, "index_topk", src, 1);
  c.intermediate = get_int(j, "intermediate_size", src, 1);
  c.vocab = get_int(j, "vocab_size", src, 1);
  c.rms_eps = get_positive(j, "rms_norm_eps", src);
  c.rope_theta = get_positive(j, "rope_theta", src);
  expect_value(j, "hidden_act", "silu", src, "the SwiGLU FFN this project runs");
  c.routed_experts = get_int(j, "n_routed_experts", src, 0, false, 0);
  if (c.routed_experts > 0) {  // the MoE keys matter only when there are experts
    const char* routing = "DeepSeek-V3's routing, the one this project runs";
    expect_value(j, "scoring_func", "sigmoid", src, routing);
    expect_value(j, "topk_method", "noaux_tc", src, routing);
    expect_value(j, "norm_topk_prob", true, src, routing);
    c.moe_intermediate = get_int(j, "moe_intermediate_size", src, 1);
    c.shared_experts = get_int(j, "n_shared_experts", src, 0);
    c.experts_per_token = get_int(j, "num_experts_per_tok", src, 1);
    c.expert_groups = get_int(j, "n_group", src, 1);
    c.topk_groups = get_int(j, "topk_group", src, 1);
    c.routed_scaling = get_positive(j, "routed_scaling_factor", src);
    c.first_dense_layers = get_int(j, "first_k_dense_replace", src, 0);
    if (c.routed_experts % c.expert_groups != 0)
      throw ConfigError(src + ": key \"n_group\": expected a divisor of n_routed_experts (" + std::to_string(c.routed_experts) + "), got " + std::to_string(c.expert_groups));
    if (c.topk_groups > c.expert_groups)
      throw ConfigError(src + ": key \"topk_group\": expected at most n_group (" + std::to_string(c.expert_groups) + "), got " + std::to_string(c.topk_groups));
    if (c.experts_per_token > c.topk_groups * (c.routed_experts / c.expert_groups))
      throw ConfigError(src + ": key \"num_experts_per_tok\": expected at most the experts in topk_group groups, got " + std::to_string(c.experts_per_token));
  }
  if (c.qk_rope % 2) throw ConfigError(src + ": key \"qk_rope_head_dim\": expected an even number, got " + std::to_string(c.qk_rope));
  if (c.index_head_dim % 4)
    throw ConfigError(src + ": key \"index_head_dim\": expected a multiple of 4 (an even rope half), got " + std::to_string(c.index_head_dim));
  if (j.contains("rope_scaling") && !j.at("rope_scaling").is_null()) {
    const json& r = j.at("rope_scaling");
    const std::string rs = src + ": rope_scaling";
    if (!r.is_object()) throw ConfigError(rs + ": expected an object, got " + r.dump());
    const char* type_key = r.contains("type") ? "type" : "rope_type";
    if (r.contains(type_key) && !r.at(type_key).is_string())
      throw ConfigError(rs + ": key \"" + type_key + "\": expected a string such as \"yarn\", got " + r.at(type_key).dump());
    const std::string type = r.value(type_key, std::string());
    if (type == "yarn") {
      c.rope.yarn = true;
      c.rope.factor = get_positive(r, "factor", rs);
      c.rope.original_max_position = get_int(r, "original_max_position_embeddings", rs, 1);
      c.rope.beta_fast = get_positive(r, "beta_fast", rs, false, 32.0);
      c.rope.beta_slow = get_positive(r, "beta_slow", rs, false, 1.0);
      c.rope.mscale = get_num(r, "mscale", rs, false, 1.0);
      c.rope.mscale_all_dim = get_num(r, "mscale_all_dim", rs, false, 0.0);
    } else if (!type.empty()) {
      throw ConfigError(rs + ": key \"type\": expected \"yarn\" (the only scaling this project models), got \"" + type + "\"");
    }
  }
  return c;
}

ModelConfig load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open");
  nlohmann::json j;
  try {
    j = parse_json_unique_keys(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(path + ": not valid JSON (" + e.what() + ")");
  } catch (const DuplicateKeyError& e) {
    throw ConfigError(path + ": " + e.what() + " (one value each: which one was meant?)");
  }
  return parse_config(j, path);
}

nlohmann::json config_to_json(const ModelConfig& c) {
  nlohmann::json j = {{"model_type", "deepseek_v32"},
                      {"hidden_size", c.hidden},
                      {"num_hidden_layers", c.layers},
                      {"num_attention_heads", c.heads},
                      {"q_lora_rank", c.q_lora_rank},
                      {"kv_lora_rank", c.kv_lora_rank},
                      {"qk_nope_head_dim", c.qk_nope},
                      {"qk_rope_head_dim", c.qk_rope},
                      {"v_head_dim", c.v_head},
                      {"index_n_heads", c.index_heads},
                      {"index_head_dim", c.index_head_dim},
                      {"index_topk", c.index_topk},
                      {"intermediate_size", c.intermediate},
                      {"n_routed_experts", c.routed_experts},
                      {"vocab_size", c.vocab},
                      {"rms_norm_eps", c.rms_eps},
                      {"rope_theta", c.rope_theta}};
  if (c.routed_experts > 0)
    j.update({{"moe_intermediate_size", c.moe_intermediate},
              {"n_shared_experts", c.shared_experts},
              {"num_experts_per_tok", c.experts_per_token},
              {"n_group", c.expert_groups},
              {"topk_group", c.topk_groups},
              {"routed_scaling_factor", c.routed_scaling},
              {"first_k_dense_replace", c.first_dense_layers},
              {"scoring_func", "sigmoid"},
              {"norm_topk_prob", true}});
  if (c.rope.yarn)
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", c.rope.factor},
                         {"original_max_position_embeddings", c.rope.original_max_position},
                         {"beta_fast", c.rope.beta_fast},
                         {"beta_slow", c.rope.beta_slow},
                         {"mscale", c.rope.mscale},
                         {"mscale_all_dim", c.rope.mscale_all_dim}};
  return j;
}

std::string find_presets_dir(const char* env, const std::string& built) {
  // A binary carried to another machine (the GPU bundle) finds them in the checkout it is
  // run from, when its build's source folder is not there.
  if (env) return env;
  std::error_code ec;
  if (!std::filesystem::is_directory(built, ec) && std::filesystem::is_directory("model/presets", ec)) return "model/presets";
  return built;
}

std::string presets_dir() { return find_presets_dir(std::getenv("DSA_PRESETS_DIR"), DSA_SOURCE_DIR "/model/presets"); }

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(presets_dir(), ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

ModelConfig preset_config(const std::string& name) {
  const std::string path = presets_dir() + "/" + name + ".json";
  if (name.find('/') != std::string::npos || !std::filesystem::is_regular_file(path)) {
    std::string names;
    for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw ConfigError("unknown model preset \"" + name + "\" (presets: " + names + ")");
  }
  ModelConfig c = load_config(path);
  c.name = name;
  return c;
}

bool names_config_file(const std::string& model) {
  const std::string ext = ".json";
  return model.find('/') != std::string::npos ||
         (model.size() > ext.size() && model.compare(model.size() - ext.size(), ext.size(), ext) == 0);
}

ModelConfig model_config(const std::string& model) {
  if (!names_config_file(model)) return preset_config(model);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec))
    throw ConfigError(model + ": no such config.json (a relative path is read from the current folder, " +
                      std::filesystem::current_path(ec).string() + "; a preset is named without \".json\")");
  ModelConfig c = load_config(model);
  c.name = model;
  return c;
}

}  // namespace dsa::model
