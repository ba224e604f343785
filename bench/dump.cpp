#include "bench/dump.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "bench/inputs.h"
#include "bench/runner.h"
#include "reference/attention.h"
#include "reference/indexer.h"
#include "reference/topk.h"

namespace dsa::bench {

namespace {

void dump_indexer(const CaseSpec& c, std::uint64_t seed, DumpSink& sink) {
  const IndexerData d = make_indexer_data(c, seed);
  sink.put("q_raw", d.raw.q, "input", "indexer queries [T, H_I, D_I] before rotation and quantisation");
  sink.put("k_raw", d.raw.k, "input", "indexer keys [S, D_I] before rotation and quantisation");
  sink.put("w", d.raw.w, "input", "head weights [T, H_I], fp32, H_I^-0.5 * D_I^-0.5 folded in");
  sink.put("q", d.ops.q, "input", "queries as the kernel sees them (rotated if hadamard, dequantised)");
  sink.put("k", d.ops.k, "input", "keys as the kernel sees them (rotated if hadamard, dequantised)");
  if (c.dtype == DType::fp8_e4m3) {
    sink.put("q_fp8", d.ops.q_codes, "input", "e4m3 codes of q");
    sink.put("q_scale", d.ops.q_scales, "input", "power-of-two scale per (token, head)");
    sink.put("k_fp8", d.ops.k_codes, "input", "e4m3 codes of k");
    sink.put("k_scale", d.ops.k_scales, "input", "power-of-two scale per token");
  }
  HostTensor<float> scores;
  ref::indexer_scores(d.shape, d.ops.q, d.ops.k, d.ops.w, scores);
  sink.put("scores", scores, "reference_output",
           "sum_h w[t,h] * relu(q[t,h] . k[s]) for s <= query_offset + t, -inf elsewhere (fp64 accumulation)");
  sink.note("query_offset", d.shape.query_offset);
}

void dump_topk(const CaseSpec& c, std::uint64_t seed, DumpSink& sink) {
  const TopkData d = make_topk_data(c, seed);
  HostTensor<std::int32_t> idx;
  ref::topk(d.scores, d.ends, d.k, idx);
  sink.put("scores", d.scores, "input", "scores [T, S]");
  sink.put("ends", d.ends, "input", "valid columns of each row: row t selects among [0, ends[t])");
  sink.put("indices", idx, "reference_output",
           "selected positions in increasing order, -1 padded; ties by smaller position, +0 == -0, NaN last");
}

void dump_attention(const CaseSpec& c, std::uint64_t seed, DumpSink& sink) {
  const AttentionData d = make_attention_data(c, seed);
  HostTensor<float> out, lse;
  sink.put("q", d.q, "input", "queries [T, H, d_qk]");
  if (c.op == Op::dense_attention_mha) {
    sink.put("k", d.k, "input", "keys [S, H, d_qk]");
    sink.put("v", d.v, "input", "values [S, H, d_v]");
    ref::dense_mha(d.shape, d.q, d.k, d.v, out, lse);
  } else {
    sink.put("kv", d.kv, "input", "shared key rows [S, d_qk]; the value is the first d_v columns");
    if (c.op == Op::sparse_attention) {
      sink.put("indices", d.indices, "input", "attended positions [T, K]; < 0 or >= S means skip");
      ref::sparse_mqa(d.shape, d.q, d.kv, d.indices, out, lse);
    } else {
      ref::dense_mqa(d.shape, d.q, d.kv, out, lse);
    }
  }
  sink.put("out", out, "reference_output", "attention output [T, H, d_v]; 0 for a query with no key");
  sink.put("lse", lse, "reference_output", "natural-log log-sum-exp of scale * q.k [T, H]; -inf for no key");
  sink.note("softmax_scale", d.shape.scale);
  sink.note("query_offset", d.shape.query_offset);
}

// "100, 300, 1000": every context, since a sweep's contexts need not follow a pattern.
std::string list_contexts(const std::vector<std::int64_t>& contexts) {
  std::string out;
  for (const std::int64_t L : contexts) out += (out.empty() ? "" : ", ") + std::to_string(L);
  return out;
}

}  // namespace

nlohmann::json dump_case(const CaseSpec& c, std::uint64_t run_seed, std::int64_t context, const std::string& dir,
                         const std::string& suite_path) {
  // Checked before anything is written, so a refused case or a bad --context leaves no empty
  // output folder; and --context is never ignored: on a single-op case it asks for nothing.
  if (c.op == Op::model_prefill || c.op == Op::model_decode)
    throw std::invalid_argument("dump covers single ops and dsa_vs_dense sweeps; a model case's inputs are its "
                                "checkpoint (see the case's \"checkpoint\" or the synthetic one it writes) and random tokens");
  if (c.op != Op::dsa_vs_dense && context > 0)
    throw std::invalid_argument("--context applies to dsa_vs_dense cases only; " + c.name + " is a " + op_name(c.op) +
                                " case with one shape");
  std::int64_t L = 0;  // the sweep's context dumped
  if (c.op == Op::dsa_vs_dense) {
    L = context > 0 ? context : c.contexts.front();
    if (std::find(c.contexts.begin(), c.contexts.end(), L) == c.contexts.end())
      throw std::invalid_argument("--context " + std::to_string(L) + " is not one of the contexts of " + c.name + " (" +
                                  list_contexts(c.contexts) + ")");
  }
  std::error_code ec;
  if (!std::filesystem::create_directories(dir, ec) && ec)
    throw std::invalid_argument("--out " + dir + ": cannot create the folder (" + ec.message() + ")");
  const std::uint64_t seed = case_seed(run_seed, c.name);
  DumpSink sink(dir);
  switch (c.op) {
    case Op::indexer: dump_indexer(c, seed, sink); break;
    case Op::topk: dump_topk(c, seed, sink); break;
    case Op::sparse_attention:
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa: dump_attention(c, seed, sink); break;
    case Op::model_prefill:
    case Op::model_decode: break;  // refused above
    case Op::dsa_vs_dense: {
      dump_sweep_point(c, seed, L, sink);
      sink.note("context", L);
      break;
    }
  }
  nlohmann::json manifest = {{"tool", "dsa-bench"},        {"suite", suite_path}, {"case", c.name},
                             {"op", op_name(c.op)},        {"run_seed", run_seed}, {"case_seed", seed},
                             {"params", case_params_json(c)}, {"notes", sink.notes()}, {"files", sink.files()}};
  std::ofstream out(dir + "/manifest.json");
  out << manifest.dump(2) << '\n';
  if (!out) throw std::runtime_error(dir + "/manifest.json: write failed");
  return manifest;
}

}  // namespace dsa::bench
