#include "bench/runner.h"

#include <cctype>
#include <cstdio>

#include <algorithm>
#include <map>
#include <new>

#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "core/rng.h"
#include "core/trace.h"
#include "kernels/cuda_device.h"

namespace dsa::bench {

const char* backend_request_name(BackendRequest b) {
  switch (b) {
    case BackendRequest::automatic: return "auto";
    case BackendRequest::cpu: return "cpu";
    case BackendRequest::cuda: return "cuda";
  }
  return "?";
}

std::uint64_t case_seed(std::uint64_t run_seed, const std::string& case_name) {
  return derive_seed(run_seed, case_name);
}

std::vector<Backend> candidate_backends(BackendRequest req, std::string* why) {
  std::string no_device;
  const bool gpu = cuda_device_count(&no_device) > 0;
  switch (req) {
    case BackendRequest::cpu: return {Backend::cpu};
    case BackendRequest::cuda:
      if (!gpu) {
        if (why) *why = no_device;
        return {};
      }
      return {Backend::cuda};
    case BackendRequest::automatic:
      // The GPU when one is present; ops without a CUDA variant yet fall back to the CPU
      // (the record's "backend" says which ran).
      if (gpu) return {Backend::cuda, Backend::cpu};
      return {Backend::cpu};
  }
  return {};
}

nlohmann::json case_params_json(const CaseSpec& c) {
  nlohmann::json p;
  p["generator"] = c.generator;
  if (c.generator == "structured")
    p["pattern"] = {{"noise_logit", c.pattern.noise_logit},   {"sink_logit", c.pattern.sink_logit},
                    {"local_logit", c.pattern.local_logit},   {"local_window", c.pattern.local_window},
                    {"needles", c.pattern.needles},           {"needle_logit", c.pattern.needle_logit},
                    {"needle_query_fraction", c.pattern.needle_query_fraction}};
  p["dtype"] = dtype_name(c.dtype);
  if (!c.backends.empty()) p["backends"] = c.backends;
  if (!c.implementation.empty()) p["implementation"] = c.implementation;
  if (!c.stage_implementations.empty()) p["implementations"] = c.stage_implementations;
  switch (c.op) {
    case Op::indexer:
      p.update({{"queries", c.queries}, {"context", c.context}, {"query_offset", c.resolved_query_offset()},
                {"causal", c.causal}, {"index_heads", c.index_heads}, {"index_head_dim", c.index_head_dim},
                {"hadamard", c.hadamard}});
      break;
    case Op::topk:
      p.update({{"queries", c.queries}, {"context", c.context}, {"query_offset", c.resolved_query_offset()},
                {"causal", c.causal}, {"topk", c.topk}});
      if (c.generator == "ties") p["tie_fraction"] = c.tie_fraction;
      break;
    case Op::sparse_attention:
      p.update({{"topk", c.topk}, {"invalid_fraction", c.invalid_fraction}, {"empty_rows", c.empty_rows}});
      [[fallthrough]];
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa:
      p.update({{"queries", c.queries}, {"context", c.context}, {"heads", c.heads}, {"d_qk", c.d_qk},
                {"d_v", c.d_v}, {"qk_rope", c.qk_rope}, {"softmax_scale", c.resolved_scale()}});
      if (c.op != Op::sparse_attention) p["query_offset"] = c.resolved_query_offset();
      if (c.op != Op::dense_attention_mha) p["kv_cache_dtype"] = dtype_name(c.kv_cache_dtype);
      break;
    case Op::model_prefill:
    case Op::model_decode:
      p.update({{"model", c.model}, {"checkpoint", c.checkpoint}, {"weights_dtype", c.weights_dtype},
                {"kv_cache_dtype", dtype_name(c.kv_cache_dtype)},
                {"layers", c.layer_first >= 0 ? nlohmann::json{c.layer_first, c.layer_end} : nlohmann::json("all")},
                {"contexts", c.contexts}, {"prefill_chunk", c.prefill_chunk}});
      if (c.op == Op::model_decode) p.update({{"decode_steps", c.decode_steps}, {"batch", c.batch}});
      break;
    case Op::dsa_vs_dense:
      p.update({{"phase", phase_name(c.phase)}, {"contexts", c.contexts}, {"heads", c.heads},
                {"index_heads", c.index_heads}, {"index_head_dim", c.index_head_dim}, {"topk", c.topk},
                {"kv_rank", c.kv_rank}, {"qk_nope", c.qk_nope}, {"qk_rope", c.qk_rope}, {"v_head", c.v_head},
                {"query_chunk", c.query_chunk}, {"batch", c.batch}, {"softmax_scale", c.resolved_scale()},
                {"hadamard", c.hadamard}, {"indexer_dtype", dtype_name(c.indexer_dtype)},
                {"accuracy_rows", c.accuracy_rows},
                {"validate_rows", c.validate_rows}, {"kv_cache_dtype", dtype_name(c.kv_cache_dtype)}});
      break;
  }
  p["tolerance"] = {{"abs", c.tol.abs},         {"rel", c.tol.rel},
                    {"cos_diff", c.tol.cos_diff}, {"lse_rel", c.tol.lse_rel},
                    {"min_pass_fraction", c.tol.min_pass_fraction}, {"quant_cos_diff", c.tol.quant_cos_diff},
                    {"p_round", c.tol.p_round}};
  p["timing"] = {{"warmup", c.timing.warmup},           {"min_samples", c.timing.min_samples},
                 {"max_samples", c.timing.max_samples}, {"max_seconds", c.timing.max_seconds},
                 {"target_rel_spread", c.timing.target_rel_spread}};
  return p;
}

nlohmann::json ceiling_share(const nlohmann::json& ceilings, const nlohmann::json& throughput,
                             const std::string& compute_ceiling) {
  if (!ceilings.is_object() || !throughput.is_object()) return nullptr;
  nlohmann::json share = nlohmann::json::object();
  const double copy = ceilings.value("copy_gbps", 0.0);
  if (copy > 0) share["memory"] = throughput["gbps"].get<double>() / copy;
  if (!compute_ceiling.empty()) {
    const double peak = ceilings.value(compute_ceiling, 0.0);
    share["compute_ceiling"] = compute_ceiling;
    if (peak > 0) share["compute"] = throughput["gflops"].get<double>() * 1e-3 / peak;
  }
  return share;
}

std::string host_oom_reason(const std::string& what, std::int64_t available_at_start, double needs_bytes,
                            const std::string& needs) {
  std::string r = "out of host memory " + what;
  char buf[96];
  if (needs_bytes > 0) {
    // A case 100 times too big reads differently from one just over the machine's memory.
    if (needs_bytes >= 1e12) std::snprintf(buf, sizeof buf, "%.1f TB", needs_bytes / 1e12);
    else std::snprintf(buf, sizeof buf, "%.1f GB", needs_bytes / 1e9);
    r += ": " + needs + " about " + buf + " as fp32";
  }
  if (available_at_start >= 0) {
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(available_at_start) / 1e9);
    r += std::string(" (") + buf + " GB was available when it began)";
  }
  return r;
}

void require_host_memory(const std::string& what, std::int64_t available, double needs_bytes, const std::string& needs,
                         const std::string& advice) {
  if (available >= 0 && needs_bytes > static_cast<double>(available))
    throw OutOfMemory(host_oom_reason(what, available, needs_bytes, needs) + advice);
}

namespace {

// The host bytes of a single-op case's main tensors, held as fp32: its inputs, its
// outputs and, when it validates, the reference's outputs (more goes to quantised copies
// and scratch): a lower bound of what it allocates. 0 for sweeps and model cases, whose
// memory depends on more than the case's fields.
double op_case_bytes(const CaseSpec& c) {
  const double q = static_cast<double>(c.queries), s = static_cast<double>(c.context), k = static_cast<double>(c.topk);
  const double copies = c.validates() ? 2.0 : 1.0;  // the output, and the reference's
  const double h = c.heads, out = copies * (q * h * c.d_v + q * h);  // out and lse
  switch (c.op) {
    case Op::indexer:
      return 4.0 * (q * c.index_heads * (c.index_head_dim + 1.0) + s * c.index_head_dim + copies * q * s);
    case Op::topk: return 4.0 * (q * s + copies * q * k);
    case Op::sparse_attention: return 4.0 * (q * h * c.d_qk + s * c.d_qk + q * k + out);
    case Op::dense_attention_mqa: return 4.0 * (q * h * c.d_qk + s * c.d_qk + out);
    case Op::dense_attention_mha: return 4.0 * (q * h * c.d_qk + s * h * (c.d_qk + c.d_v) + out);
    case Op::dsa_vs_dense:
    case Op::model_prefill:
    case Op::model_decode: break;
  }
  return 0;
}

}  // namespace

void run_points(const std::vector<std::int64_t>& contexts, const RunContext& ctx, bool validated, nlohmann::json& rec,
                const std::function<nlohmann::json(std::int64_t, std::size_t)>& point) {
  rec["points"] = nlohmann::json::array();
  // The case's status is its worst point's: an error (a defect, or a cause unknown) over
  // a failed check over memory that ran out (the machine is too small for the context);
  // its reason is the first point of that status.
  static constexpr std::array<const char*, 3> kWorstFirst = {"error", "failed", "oom"};
  std::map<std::string, std::string> first_reason;
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    const std::int64_t L = contexts[i];
    nlohmann::json pt;
    const std::int64_t available = available_memory_bytes();
    try {
      pt = point(L, i);
    } catch (const NotSupported&) {
      throw;  // the whole case cannot run on this backend
    } catch (const OutOfMemory& e) {
      pt = {{"context", L}, {"status", "oom"}, {"reason", e.what()}};
    } catch (const std::bad_alloc&) {
      pt = {{"context", L}, {"status", "oom"}, {"reason", host_oom_reason("at this context", available)}};
    } catch (const std::exception& e) {
      pt = {{"context", L}, {"status", "error"}, {"reason", e.what()}};
    }
    const std::string st = pt["status"].get<std::string>();
    if (st != "passed" && st != "not_verified")
      first_reason.emplace(st, "context " + std::to_string(L) + ": " + pt.value("reason", st));
    rec["points"].push_back(pt);
    if (ctx.partial) {
      nlohmann::json partial = rec;
      partial["status"] = "running";
      ctx.partial(partial);
    }
  }
  rec["status"] = validated ? "passed" : "not_verified";
  for (const char* st : kWorstFirst)
    if (const auto it = first_reason.find(st); it != first_reason.end()) {
      rec["status"] = st;
      rec["reason"] = it->second;
      break;
    }
}

void note_unvalidated_variants(nlohmann::json& rec, const std::vector<VariantSummary>& variants) {
  if (!rec.contains("implementation")) return;
  const nlohmann::json& impl = rec["implementation"];
  const std::string text = impl.is_string() ? impl.get<std::string>() : impl.dump();
  const auto names_at = [&](const std::string& name) {  // a whole name: not the start of a longer one
    for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
      const std::size_t end = at + name.size();
      if (end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_' || text[end] == '.'))
        return true;
    }
    return false;
  };
  for (const VariantSummary& v : variants)
    if (!v.not_validated.empty() && names_at(v.name)) rec["not_validated"][v.name] = v.not_validated;
}

nlohmann::json run_case(const CaseSpec& c, const RunContext& ctx) {
  DSA_TRACE_RANGE(c.name.c_str());  // Nsight Systems shows each case by name
  const double t0 = now_seconds();
  const std::uint64_t seed = case_seed(ctx.seed, c.name);
  nlohmann::json rec;
  rec["name"] = c.name;
  rec["op"] = op_name(c.op);
  rec["mode"] = mode_name(c.mode);
  if (!c.description.empty()) rec["description"] = c.description;
  rec["seed"] = seed;
  rec["params"] = case_params_json(c);
  std::string why;
  auto backends = candidate_backends(ctx.backend, &why);
  if (!c.backends.empty()) {
    std::erase_if(backends, [&](Backend b) {
      return std::find(c.backends.begin(), c.backends.end(), backend_name(b)) == c.backends.end();
    });
    if (backends.empty() && why.empty()) {
      why = "the case runs only on";
      for (const auto& b : c.backends) why += " " + b;
      why += " (backend requested: " + std::string(backend_request_name(ctx.backend)) + ")";
      std::string device;
      if (std::find(c.backends.begin(), c.backends.end(), "cuda") != c.backends.end() && cuda_device_count(&device) == 0)
        why += "; " + device;
    }
  }
  const std::int64_t available = available_memory_bytes();
  try {
    if (backends.empty()) {
      rec["status"] = "skipped";
      rec["reason"] = why;
    } else {
      reset_peak_rss();
      reset_device_memory_peak();
      nlohmann::json body;
      // A case whose tensors cannot fit ends before they are made (the worker's crash
      // would say less than this).
      require_host_memory("for the case", available, op_case_bytes(c), "its inputs and outputs alone would take");
      if (c.op == Op::dsa_vs_dense) body = run_sweep_case(c, ctx, seed, backends);
      else if (c.op == Op::model_prefill || c.op == Op::model_decode) body = run_model_case(c, ctx, seed, backends);
      else body = run_op_case(c, ctx, seed, backends);
      rec.update(body);
    }
  } catch (const NotSupported& e) {
    rec["status"] = "not_supported";
    rec["reason"] = e.what();
  } catch (const OutOfMemory& e) {
    rec["status"] = "oom";
    rec["reason"] = e.what();
  } catch (const std::bad_alloc&) {
    rec["status"] = "oom";
    rec["reason"] = host_oom_reason("while running the case", available, op_case_bytes(c));
  } catch (const std::exception& e) {
    rec["status"] = "error";
    rec["reason"] = e.what();
  } catch (...) {
    rec["status"] = "error";
    rec["reason"] = "unknown exception";
  }
  note_unvalidated_variants(rec, variant_summaries());
  rec["duration_s"] = now_seconds() - t0;
  return rec;
}

}  // namespace dsa::bench
