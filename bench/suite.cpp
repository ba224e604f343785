#include "bench/suite.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "kernels/cuda_device.h"
#include "kernels/registry.h"
#include "model/config.h"
#include "model/json_keys.h"
#include "reference/attention.h"

namespace dsa::bench {

using nlohmann::json;

const char* op_name(Op op) {
  switch (op) {
    case Op::indexer: return "indexer";
    case Op::topk: return "topk";
    case Op::sparse_attention: return "sparse_attention";
    case Op::dense_attention_mha: return "dense_attention_mha";
    case Op::dense_attention_mqa: return "dense_attention_mqa";
    case Op::dsa_vs_dense: return "dsa_vs_dense";
    case Op::model_prefill: return "model_prefill";
    case Op::model_decode: return "model_decode";
  }
  return "?";
}
const char* mode_name(Mode m) {
  switch (m) {
    case Mode::validate: return "validate";
    case Mode::bench: return "bench";
    case Mode::both: return "both";
  }
  return "?";
}
const char* phase_name(Phase p) { return p == Phase::prefill ? "prefill" : "decode"; }

double CaseSpec::resolved_scale() const {
  return softmax_scale > 0 ? softmax_scale : ref::model_softmax_scale();
}

Tolerance indexer_tolerance() {
  Tolerance t;
  t.abs = 1e-3;
  t.rel = 1e-3;
  t.cos_diff = 1e-6;
  return t;
}

namespace {

const std::map<std::string, Op> kOps = {
    {"indexer", Op::indexer},
    {"topk", Op::topk},
    {"sparse_attention", Op::sparse_attention},
    {"dense_attention_mha", Op::dense_attention_mha},
    {"dense_attention_mqa", Op::dense_attention_mqa},
    {"dsa_vs_dense", Op::dsa_vs_dense},
    {"model_prefill", Op::model_prefill},
    {"model_decode", Op::model_decode},
};

const std::set<std::string> kCommonKeys = {"name", "description", "op", "mode", "generator", "pattern",
                                           "dtype", "tolerance", "timing", "backends"};
const std::map<Op, std::set<std::string>> kOpKeys = {
    {Op::indexer, {"implementation", "queries", "context", "query_offset", "causal", "index_heads", "index_head_dim", "hadamard"}},
    {Op::topk, {"implementation", "queries", "context", "query_offset", "causal", "topk", "tie_fraction"}},
    {Op::sparse_attention, {"implementation", "queries", "context", "heads", "d_qk", "d_v", "qk_rope", "topk", "softmax_scale",
                            "invalid_fraction", "empty_rows", "kv_cache_dtype"}},
    {Op::dense_attention_mha, {"implementation", "queries", "context", "query_offset", "heads", "d_qk", "d_v", "qk_rope", "softmax_scale"}},
    {Op::dense_attention_mqa, {"implementation", "queries", "context", "query_offset", "heads", "d_qk", "d_v", "qk_rope", "softmax_scale",
                               "kv_cache_dtype"}},
    {Op::dsa_vs_dense, {"phase", "contexts", "heads", "index_heads", "index_head_dim", "topk", "kv_rank", "qk_nope",
                        "qk_rope", "v_head", "query_chunk", "batch", "softmax_scale", "hadamard", "indexer_dtype",
                        "accuracy_rows", "validate_rows", "kv_cache_dtype", "implementations"}},
    {Op::model_prefill, {"model", "checkpoint", "weights_dtype", "kv_cache_dtype", "layers", "contexts", "prefill_chunk",
                         "implementations"}},
    {Op::model_decode, {"model", "checkpoint", "weights_dtype", "kv_cache_dtype", "layers", "contexts", "prefill_chunk",
                        "decode_steps", "batch", "implementations"}},
};
const std::set<std::string> kTolKeys = {"abs",           "rel",           "cos_diff", "lse_rel",
                                        "min_pass_fraction", "quant_cos_diff", "p_round"};
const std::set<std::string> kTimingKeys = {"warmup", "min_samples", "max_samples", "max_seconds", "target_rel_spread"};
const std::set<std::string> kPatternKeys = {"noise_logit", "sink_logit", "local_logit", "local_window", "needles",
                                            "needle_logit", "needle_query_fraction"};

template <class Args>
std::vector<std::string> names_of(const std::vector<Variant<Args>>& all) {
  std::vector<std::string> n;
  for (const auto& v : all) n.push_back(v.name);
  return n;
}

std::vector<std::string> variant_names(Op op) {
  switch (op) {
    case Op::indexer: return names_of(indexer_variants());
    case Op::topk: return names_of(topk_variants());
    case Op::sparse_attention: return names_of(sparse_mqa_variants());
    case Op::dense_attention_mha: return names_of(dense_mha_variants());
    case Op::dense_attention_mqa: return names_of(dense_mqa_variants());
    default: return {};
  }
}

std::string type_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean (" + v.dump() + ")";
  if (v.is_number_integer() || v.is_number_unsigned()) return "the integer " + v.dump();
  if (v.is_number_float()) return "the number " + v.dump();
  if (v.is_string()) return "the string " + v.dump();
  if (v.is_array()) return "a list";
  return "an object";
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// Reads the fields of one JSON object, with messages that name where it is.
class Fields {
 public:
  Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    std::string got = obj_.contains(key) ? type_of(obj_.at(key)) : "nothing (the field is missing)";
    throw SuiteError(where_ + ": field \"" + key + "\": expected " + expected + ", got " + got);
  }
  bool has(const std::string& key) const { return obj_.contains(key); }

  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t lo, std::int64_t hi) const {
    if (!has(key)) return def;
    const json& v = obj_.at(key);
    const std::string want = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (!(v.is_number_integer() || v.is_number_unsigned())) fail(key, want);
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) fail(key, want);
    const auto x = v.get<std::int64_t>();
    if (x < lo || x > hi) fail(key, want);
    return x;
  }
  double number(const std::string& key, double def, double lo, double hi, bool lo_open = false) const {
    if (!has(key)) return def;
    const json& v = obj_.at(key);
    std::ostringstream want;
    want << "a number in " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    if (!v.is_number()) fail(key, want.str());
    const double x = v.get<double>();
    if (!std::isfinite(x) || x > hi || x < lo || (lo_open && x == lo)) fail(key, want.str());
    return x;
  }
  bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    if (!obj_.at(key).is_boolean()) fail(key, "true or false");
    return obj_.at(key).get<bool>();
  }
  std::string string(const std::string& key, const std::string& def) const {
    if (!has(key)) return def;
    if (!obj_.at(key).is_string()) fail(key, "a string");
    return obj_.at(key).get<std::string>();
  }
  std::string choice(const std::string& key, const std::string& def, const std::set<std::string>& allowed) const {
    const std::string want = "one of: " + join(allowed);
    if (!has(key)) return def;
    if (!obj_.at(key).is_string()) fail(key, want);
    const auto v = obj_.at(key).get<std::string>();
    if (!allowed.count(v)) fail(key, want);
    return v;
  }
  const json& object(const std::string& key) const {
    if (!obj_.at(key).is_object()) fail(key, "an object");
    return obj_.at(key);
  }
  void only(const std::set<std::string>& allowed, const std::string& what) const {
    for (const auto& [k, v] : obj_.items())
      if (!allowed.count(k))
        throw SuiteError(where_ + ": unknown field \"" + k + "\" for " + what + " (allowed: " + join(allowed) + ")");
  }
  const std::string& where() const { return where_; }

 private:
  const json& obj_;
  std::string where_;
};

constexpr std::int64_t kMaxContext = 2147483647;  // indices are int32
constexpr std::int64_t kMaxDim = 1 << 16;

DType dtype_field(const Fields& f, const std::string& key, DType def, const std::set<std::string>& allowed) {
  const std::string name = f.choice(key, std::string(dtype_name(def)), allowed);
  return *parse_dtype(name);
}

// The latent cache of an MQA-mode case: the case's own dtype, or "fp8" for the 656-byte
// FP8 rows (q and the output keep the case's dtype).
DType cache_dtype_field(const Fields& f, DType dtype) {
  const std::string own(dtype_name(dtype));
  return dtype_field(f, "kv_cache_dtype", dtype, {own, "fp8"});
}

// A variant name in field `key` of `f`: one of `known` (this build's variants of the
// op), or any CUDA name in a build without CUDA (the case is skipped there anyway).
std::string implementation_field(const Fields& f, const std::string& key, const std::vector<std::string>& known) {
  const std::string name = f.string(key, "");
  const bool listed = std::find(known.begin(), known.end(), name) != known.end();
  if (!listed && !(name.rfind("cuda.", 0) == 0 && !built_with_cuda())) {
    std::string all;
    for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
    f.fail(key, "the name of a variant (" + all + ")");
  }
  return name;
}

// A named variant runs only on its own backend, so the case does too.
void restrict_to_backend_of(CaseSpec& c, const Fields& f, const std::string& name) {
  const std::string backend = name.rfind("cuda.", 0) == 0 ? "cuda" : "cpu";
  if (c.backends.empty()) c.backends = {backend};
  else if (std::find(c.backends.begin(), c.backends.end(), backend) == c.backends.end())
    f.fail("backends", "a list that includes \"" + backend + "\" (the backend of implementation " + name + ")");
}

// "implementations": {stage: variant name} for the stages listed (each a variant of its
// op); the case then runs on those variants' backend. `cuda_only`: model cases, whose
// CPU forward has one implementation per op.
void parse_stage_implementations(CaseSpec& c, const Fields& f, const std::vector<std::pair<std::string, Op>>& stages,
                                 bool cuda_only) {
  Fields g(f.object("implementations"), f.where() + ": implementations");
  std::set<std::string> names;
  for (const auto& s : stages) names.insert(s.first);
  g.only(names, "stage implementations");
  for (const auto& [stage, op] : stages) {
    if (!g.has(stage)) continue;
    const std::string name = implementation_field(g, stage, variant_names(op));
    if (cuda_only && name.rfind("cuda.", 0) != 0)
      g.fail(stage, "a CUDA variant (the CPU forward has one implementation per op)");
    c.stage_implementations[stage] = name;
    restrict_to_backend_of(c, f, name);
  }
}

void parse_tolerance(const Fields& c, Tolerance& t) {
  if (!c.has("tolerance")) return;
  Fields f(c.object("tolerance"), c.where() + ": tolerance");
  f.only(kTolKeys, "a tolerance");
  t.abs = f.number("abs", t.abs, 0, 1e30);
  t.rel = f.number("rel", t.rel, 0, 1e30);
  t.cos_diff = f.number("cos_diff", t.cos_diff, 0, 2);
  t.lse_rel = f.number("lse_rel", t.lse_rel, 0, 1e30);
  t.min_pass_fraction = f.number("min_pass_fraction", t.min_pass_fraction, 0, 1);
  t.quant_cos_diff = f.number("quant_cos_diff", t.quant_cos_diff, 0, 2);
  t.p_round = f.number("p_round", t.p_round, 0, 1);
}

void parse_timing(const Fields& c, TimingSettings& t) {
  if (!c.has("timing")) return;
  Fields f(c.object("timing"), c.where() + ": timing");
  f.only(kTimingKeys, "timing settings");
  t.warmup = static_cast<int>(f.integer("warmup", t.warmup, 0, 1000));
  t.min_samples = static_cast<int>(f.integer("min_samples", t.min_samples, 1, 100000));
  t.max_samples = static_cast<int>(f.integer("max_samples", std::max(t.max_samples, t.min_samples), 1, 100000));
  if (t.max_samples < t.min_samples) f.fail("max_samples", "an integer >= min_samples (" + std::to_string(t.min_samples) + ")");
  t.max_seconds = f.number("max_seconds", t.max_seconds, 0, 86400, true);
  t.target_rel_spread = f.number("target_rel_spread", t.target_rel_spread, 0, 10);
}

void parse_pattern(const Fields& c, PatternSpec& p) {
  if (!c.has("pattern")) return;
  Fields f(c.object("pattern"), c.where() + ": pattern");
  f.only(kPatternKeys, "a pattern");
  p.noise_logit = f.number("noise_logit", p.noise_logit, 0, 100, true);
  p.sink_logit = f.number("sink_logit", p.sink_logit, 0, 100);
  p.local_logit = f.number("local_logit", p.local_logit, 0, 100);
  p.local_window = f.integer("local_window", p.local_window, 1, kMaxContext);
  p.needles = static_cast<int>(f.integer("needles", p.needles, 0, 1000));
  p.needle_logit = f.number("needle_logit", p.needle_logit, 0, 100);
  p.needle_query_fraction = f.number("needle_query_fraction", p.needle_query_fraction, 0, 1);
}

// A required, strictly increasing list of positive context lengths.
std::vector<std::int64_t> parse_contexts(const Fields& f, const json& merged) {
  if (!f.has("contexts") || !merged["contexts"].is_array() || merged["contexts"].empty())
    f.fail("contexts", "a non-empty list of context lengths");
  std::vector<std::int64_t> out;
  std::int64_t prev = 0;
  for (const auto& v : merged["contexts"]) {
    if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<std::int64_t>() <= prev ||
        v.get<std::int64_t>() > kMaxContext)
      f.fail("contexts", "strictly increasing positive integers (one was " + v.dump() + ")");
    prev = v.get<std::int64_t>();
    out.push_back(prev);
  }
  return out;
}

// Case and suite names go into file names, report anchors and regex filters.
bool plain_name(const std::string& name) {
  static const std::regex ok("[A-Za-z0-9_.:+-]+");
  return std::regex_match(name, ok) && name != "." && name != "..";
}

CaseSpec parse_case(const json& raw, const json& defaults, std::size_t index, const std::string& path) {
  const std::string pos = path + ": case #" + std::to_string(index + 1);
  if (!raw.is_object()) throw SuiteError(pos + ": expected an object, got " + type_of(raw));
  CaseSpec c;
  {
    Fields f0(raw, pos);
    c.name = f0.string("name", "");
    if (c.name.empty()) f0.fail("name", "a non-empty string");
    if (!plain_name(c.name)) f0.fail("name", "letters, digits and _ . : + - only");
  }
  const std::string where = path + ": case \"" + c.name + "\" (#" + std::to_string(index + 1) + ")";
  Fields own(raw, where);
  if (!own.has("op")) own.fail("op", "one of: indexer, topk, sparse_attention, dense_attention_mha, dense_attention_mqa, dsa_vs_dense");
  std::set<std::string> op_names;
  for (const auto& [k, v] : kOps) op_names.insert(k);
  c.op = kOps.at(own.choice("op", "", op_names));

  std::set<std::string> allowed = kCommonKeys;
  allowed.insert(kOpKeys.at(c.op).begin(), kOpKeys.at(c.op).end());
  own.only(allowed, std::string("op ") + op_name(c.op));

  // Suite defaults apply where the op has the field; the case's own value wins
  // (nested objects such as timing are merged key by key).
  json merged = json::object();
  for (const auto& [k, v] : defaults.items())
    if (allowed.count(k)) merged[k] = v;
  merged.merge_patch(raw);
  Fields f(merged, where);

  c.description = f.string("description", "");
  c.mode = [&] {
    const auto m = f.choice("mode", "both", {"validate", "bench", "both"});
    return m == "validate" ? Mode::validate : m == "bench" ? Mode::bench : Mode::both;
  }();
  if (c.op == Op::indexer) c.tol = indexer_tolerance();
  parse_tolerance(f, c.tol);
  parse_timing(f, c.timing);
  if (f.has("backends")) {
    const json& b = merged["backends"];
    if (!b.is_array() || b.empty()) f.fail("backends", "a non-empty list of \"cpu\" and/or \"cuda\"");
    for (const auto& x : b) {
      if (!x.is_string() || (x != "cpu" && x != "cuda")) f.fail("backends", "a non-empty list of \"cpu\" and/or \"cuda\"");
      c.backends.push_back(x.get<std::string>());
    }
  }
  parse_pattern(f, c.pattern);

  switch (c.op) {
    case Op::model_prefill:
    case Op::model_decode: break;  // read below
    case Op::indexer:
      c.generator = f.choice("generator", "structured", {"gaussian", "structured"});
      c.queries = f.integer("queries", 128, 1, kMaxContext);
      c.context = f.integer("context", 4096, 1, kMaxContext);
      c.index_heads = static_cast<int>(f.integer("index_heads", 64, 1, 4096));
      c.index_head_dim = static_cast<int>(f.integer("index_head_dim", 128, 2, kMaxDim));
      c.hadamard = f.boolean("hadamard", false);
      c.causal = f.boolean("causal", true);
      c.dtype = dtype_field(f, "dtype", DType::fp8_e4m3, {"fp8", "bf16", "fp32"});
      if (c.hadamard && (c.index_head_dim & (c.index_head_dim - 1)) != 0)
        f.fail("index_head_dim", "a power of two (the Hadamard rotation needs one)");
      if (c.index_head_dim % 2) f.fail("index_head_dim", "an even number ([rope | nope] halves)");
      break;
    case Op::topk:
      c.generator = f.choice("generator", "gaussian", {"gaussian", "ties", "zeros", "lowbits"});
      c.queries = f.integer("queries", 64, 1, kMaxContext);
      c.context = f.integer("context", 8192, 1, kMaxContext);
      c.topk = f.integer("topk", 2048, 1, kMaxContext);
      c.causal = f.boolean("causal", true);
      c.tie_fraction = f.number("tie_fraction", 0.9, 0, 1);
      c.dtype = dtype_field(f, "dtype", DType::f32, {"fp32"});
      break;
    case Op::sparse_attention:
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa: {
      const bool mha = c.op == Op::dense_attention_mha;
      c.generator = f.choice("generator", "structured", {"gaussian", "structured"});
      c.queries = f.integer("queries", mha ? 64 : 1, 1, kMaxContext);
      c.context = f.integer("context", 4096, 1, kMaxContext);
      c.heads = static_cast<int>(f.integer("heads", 128, 1, 4096));
      c.d_qk = static_cast<int>(f.integer("d_qk", mha ? 192 : 576, 1, kMaxDim));
      c.d_v = static_cast<int>(f.integer("d_v", mha ? 128 : 512, 1, kMaxDim));
      c.qk_rope = static_cast<int>(f.integer("qk_rope", 64, 2, kMaxDim));
      if (c.qk_rope > c.d_qk) f.fail("qk_rope", "at most d_qk (" + std::to_string(c.d_qk) + ")");
      if (!mha && c.d_v > c.d_qk) f.fail("d_v", "at most d_qk in MQA mode (the value is the leading part of the key)");
      c.softmax_scale = f.number("softmax_scale", 0.0, 0, 1e6, true);
      c.dtype = dtype_field(f, "dtype", DType::bf16, {"bf16", "fp32"});
      if (!mha) {
        c.kv_cache_dtype = cache_dtype_field(f, c.dtype);
        if (c.kv_cache_dtype == DType::fp8_e4m3 && (c.d_v % 128 != 0 || c.qk_rope != c.d_qk - c.d_v))
          f.fail("kv_cache_dtype", "bf16 here: the FP8 cache rows need d_v a multiple of 128 and qk_rope = d_qk - d_v");
      }
      if (c.op == Op::sparse_attention) {
        c.topk = f.integer("topk", 2048, 1, kMaxContext);
        c.invalid_fraction = f.number("invalid_fraction", 0.0, 0, 1);
        c.empty_rows = f.integer("empty_rows", 0, 0, kMaxContext);
        if (c.empty_rows > c.queries) f.fail("empty_rows", "at most queries (" + std::to_string(c.queries) + ")");
      }
      break;
    }
    case Op::dsa_vs_dense: {
      c.generator = f.choice("generator", "structured", {"gaussian", "structured"});
      if (!f.has("phase")) f.fail("phase", "\"prefill\" or \"decode\"");
      c.phase = f.choice("phase", "", {"prefill", "decode"}) == "prefill" ? Phase::prefill : Phase::decode;
      c.contexts = parse_contexts(f, merged);
      c.heads = static_cast<int>(f.integer("heads", 128, 1, 4096));
      c.index_heads = static_cast<int>(f.integer("index_heads", 64, 1, 4096));
      c.index_head_dim = static_cast<int>(f.integer("index_head_dim", 128, 2, kMaxDim));
      c.topk = f.integer("topk", 2048, 1, kMaxContext);
      c.kv_rank = static_cast<int>(f.integer("kv_rank", 512, 1, kMaxDim));
      c.qk_nope = static_cast<int>(f.integer("qk_nope", 128, 1, kMaxDim));
      c.qk_rope = static_cast<int>(f.integer("qk_rope", 64, 2, kMaxDim));
      c.v_head = static_cast<int>(f.integer("v_head", 128, 1, kMaxDim));
      c.query_chunk = f.integer("query_chunk", c.phase == Phase::prefill ? 64 : 1, 1, kMaxContext);
      if (c.query_chunk > c.contexts.front())
        f.fail("query_chunk", "at most the smallest context (" + std::to_string(c.contexts.front()) + ")");
      c.batch = static_cast<int>(f.integer("batch", 1, 1, 65536));
      if (c.phase == Phase::prefill && f.has("batch") && c.batch != 1)
        f.fail("batch", "1 for prefill (a prefill point is one sequence's query chunk)");
      c.softmax_scale = f.number("softmax_scale", 0.0, 0, 1e6, true);
      c.hadamard = f.boolean("hadamard", false);
      c.accuracy_rows = f.integer("accuracy_rows", 16, 0, kMaxContext);
      c.validate_rows = f.integer("validate_rows", 0, 0, kMaxContext);
      c.dtype = dtype_field(f, "dtype", DType::bf16, {"bf16", "fp32"});
      c.indexer_dtype = dtype_field(f, "indexer_dtype", DType::fp8_e4m3, {"fp8", "bf16", "fp32"});
      c.kv_cache_dtype = cache_dtype_field(f, c.dtype);
      if (c.kv_cache_dtype == DType::fp8_e4m3 && c.kv_rank % 128 != 0)
        f.fail("kv_cache_dtype", "bf16 here: the FP8 cache rows need kv_rank a multiple of 128");
      if (c.hadamard && (c.index_head_dim & (c.index_head_dim - 1)) != 0)
        f.fail("index_head_dim", "a power of two (the Hadamard rotation needs one)");
      if (c.index_head_dim % 2) f.fail("index_head_dim", "an even number ([rope | nope] halves)");
      if (f.has("implementations")) {  // variants per stage, to compare kernels inside the whole pipeline
        const Op dense = c.phase == Phase::prefill ? Op::dense_attention_mha : Op::dense_attention_mqa;
        parse_stage_implementations(c, f, {{"indexer", Op::indexer}, {"topk", Op::topk},
                                           {"sparse_attention", Op::sparse_attention}, {"dense_attention", dense}}, false);
      }
      break;
    }
  }
  if (c.op == Op::model_prefill || c.op == Op::model_decode) {
    c.generator = "tokens";  // uniformly random token ids; the pattern does not apply
    c.model = f.string("model", "dsa-tiny");
    c.checkpoint = f.string("checkpoint", "");
    if (own.has("model") && own.has("checkpoint"))
      own.fail("checkpoint", "either \"model\" (synthetic weights) or \"checkpoint\" (real ones), not both");
    // A preset's name is checked here, before anything runs; a config.json path is read
    // when the case runs (a missing or bad file ends that case, not the run).
    if (c.checkpoint.empty() && !model::names_config_file(c.model)) {
      const std::vector<std::string> found = model::preset_names();
      const std::set<std::string> presets(found.begin(), found.end());
      if (presets.empty())
        f.fail("model", "a preset, but there are none in " + model::presets_dir() +
                            " (DSA_PRESETS_DIR names their folder), or a config.json path");
      if (!presets.count(c.model))
        f.fail("model", "a preset (" + join(presets) + ") or a config.json path (with a / or ending in .json)");
    }
    c.weights_dtype = f.choice("weights_dtype", "bf16", {"bf16", "fp8", "fp32"});
    c.kv_cache_dtype = dtype_field(f, "kv_cache_dtype", DType::bf16, {"bf16", "fp8"});
    if (f.has("layers")) {
      const json& l = merged["layers"];
      if (!l.is_array() || l.size() != 2 || !l[0].is_number_integer() || !l[1].is_number_integer() ||
          l[0].get<std::int64_t>() < 0 || l[1].get<std::int64_t>() <= l[0].get<std::int64_t>() || l[1].get<std::int64_t>() > 100000)
        f.fail("layers", "[first, end) with 0 <= first < end, e.g. [3, 4] for layer 3 alone");
      c.layer_first = l[0].get<int>();
      c.layer_end = l[1].get<int>();
    }
    c.contexts = parse_contexts(f, merged);
    c.prefill_chunk = f.integer("prefill_chunk", 512, 1, kMaxContext);
    c.decode_steps = f.integer("decode_steps", 8, 2, 1000000);
    c.batch = static_cast<int>(f.integer("batch", 1, 1, 4096));
    if (f.has("implementations"))  // the GPU forward's kernels, to time the model with kernels under evaluation
      parse_stage_implementations(c, f, {{"indexer", Op::indexer}, {"topk", Op::topk},
                                         {"sparse_attention", Op::sparse_attention},
                                         {"dense_attention_mqa", Op::dense_attention_mqa},
                                         {"dense_attention_mha", Op::dense_attention_mha}}, true);
    return c;
  }
  if (c.generator == "structured") {
    // The pattern lives in the positional dims of each space it is planted in.
    auto space = [&](const std::string& field, int rope_dims) {
      if (rope_dims % 4 != 0 || rope_dims < 4)
        f.fail(field, "a value giving a multiple of 4 positional dims (the structured generator splits them "
                      "into a local half and a sink/needle half); it gives " + std::to_string(rope_dims));
      if (c.pattern.needles > max_needles(rope_dims))
        throw SuiteError(where + ": field \"pattern.needles\": expected at most " + std::to_string(max_needles(rope_dims)) +
                         " (one direction per needle plus the sink in half of the " + std::to_string(rope_dims) +
                         " positional dims set by \"" + field + "\"), got " + std::to_string(c.pattern.needles));
    };
    const bool attention = c.op != Op::indexer && c.op != Op::topk;
    const bool indexer = c.op == Op::indexer || c.op == Op::dsa_vs_dense;
    if (attention) space("qk_rope", c.qk_rope);
    if (indexer) space("index_head_dim", c.index_head_dim / 2);  // rope half of each head vector
  }
  if (f.has("implementation")) {
    c.implementation = implementation_field(f, "implementation", variant_names(c.op));
    restrict_to_backend_of(c, f, c.implementation);
  }
  if (c.op != Op::dsa_vs_dense) {
    c.query_offset = f.integer("query_offset", -1, 0, kMaxContext);
    if (c.query_offset < 0 && c.queries > c.context && c.op != Op::sparse_attention)
      f.fail("queries", "at most context (" + std::to_string(c.context) + ") when query_offset is not given");
    if (c.query_offset >= 0 && c.query_offset + c.queries > c.context)
      f.fail("query_offset", "at most context - queries (" + std::to_string(c.context - c.queries) +
                                 "): queries sit at positions [query_offset, query_offset + queries)");
  }
  return c;
}


}  // namespace

Suite parse_suite(const std::string& text, const std::string& path) {
  json doc;
  try {
    doc = model::parse_json_unique_keys(text);
  } catch (const json::parse_error& e) {
    throw SuiteError(path + ": not valid JSON (" + e.what() + ")");
  } catch (const model::DuplicateKeyError& e) {
    throw SuiteError(path + ": " + e.what() + " (one value each: which one was meant?)");
  }
  Suite suite;
  suite.path = path;
  suite.content_hash = hex64(fnv1a64(text));
  json cases, defaults = json::object();
  if (doc.is_array()) {
    cases = doc;
  } else if (doc.is_object()) {
    Fields top(doc, path);
    top.only({"suite", "description", "case_timeout_s", "defaults", "cases"}, "a suite file");
    suite.name = top.string("suite", "");
    // The name is the default results file's (results/<suite>.json): a "/" or ".." in it
    // wrote elsewhere, creating folders on the way.
    if (!suite.name.empty() && !plain_name(suite.name))
      top.fail("suite", "letters, digits and _ . : + - only (it names the results file)");
    suite.description = top.string("description", "");
    suite.case_timeout_s = top.number("case_timeout_s", 0, 0, 7 * 86400, true);
    if (top.has("defaults")) {
      defaults = top.object("defaults");
      std::set<std::string> known = kCommonKeys;
      for (const auto& [op, keys] : kOpKeys) known.insert(keys.begin(), keys.end());
      known.erase("name");
      known.erase("op");
      Fields(defaults, path + ": defaults").only(known, "suite defaults");
    }
    if (!doc.contains("cases") || !doc["cases"].is_array()) top.fail("cases", "a list of cases");
    cases = doc["cases"];
  } else {
    throw SuiteError(path + ": expected a list of cases or an object with \"cases\", got " + type_of(doc));
  }
  if (suite.name.empty()) {
    const auto slash = path.find_last_of('/');
    std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
    suite.name = base.substr(0, base.rfind(".json"));
  }
  if (cases.empty()) throw SuiteError(path + ": the suite has no cases");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CaseSpec c = parse_case(cases[i], defaults, i, path);
    if (!seen.insert(c.name).second)
      throw SuiteError(path + ": case \"" + c.name + "\" (#" + std::to_string(i + 1) + "): field \"name\": expected a unique name, got a name used by an earlier case");
    suite.cases.push_back(std::move(c));
  }
  return suite;
}

Suite load_suite(const std::string& path) {
  // A folder opens as an empty stream on Linux: say what it is, not "not valid JSON".
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw SuiteError(path + ": a folder, not a suite file (a .json file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SuiteError(path + ": cannot open the suite file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_suite(ss.str(), path);
}

}  // namespace dsa::bench
