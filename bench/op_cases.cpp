// Single-op cases: make inputs, pick a variant, validate it against the reference
// on poisoned outputs, then (only if it passed) time it.
#include <cmath>
#include <cstdio>

#include "bench/checks.h"
#include "bench/inputs.h"
#include "bench/runner.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "bench/work.h"
#include "core/trace.h"
#include "core/metrics.h"
#include "reference/attention.h"
#include "reference/indexer.h"
#include "reference/topk.h"

namespace dsa::bench {

namespace {

double bytes_of(DType t) { return static_cast<double>(dtype_bytes(t)); }

// ", 3.4e+16 FLOP": how big the step named in a "still running" line is.
std::string work_text(const Work& w) {
  if (!(w.flop > 0)) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, ", %.2g FLOP", w.flop);
  return buf;
}

struct OpPlan {
  Work work;
  std::string compute_ceiling;                // which measured ceiling bounds the op ("": memory-bound)
  double input_bytes = 0, output_bytes = 0;
  std::function<void()> poison;               // fill the outputs with values no run writes
  std::function<void(Checks&)> validate;      // compare the outputs with the reference
};

template <class Args>
nlohmann::json execute(const CaseSpec& c, const RunContext& ctx, const std::vector<Variant<Args>>& all,
                       const std::vector<Backend>& backends, const Args& args, const OpPlan& plan) {
  std::string why;
  const Variant<Args>* v = choose_variant(all, backends, args, &why, c.implementation, &ctx.prefer);
  if (!v) throw NotSupported(why);
  const auto phase = [&](const std::string& what) { if (ctx.phase) ctx.phase(what); };
  nlohmann::json rec;
  rec["backend"] = backend_name(v->backend);
  if (!why.empty()) rec["backend_fallback"] = why;  // an earlier candidate backend could not run it
  rec["implementation"] = v->name;
  phase("preparing " + v->name);
  auto run = v->prepare(args);
  bool ok = true;
  if (c.validates()) {
    DSA_TRACE_RANGE("validate");
    phase("validation: poisoning the outputs");
    plan.poison();
    phase("validation: a run of " + v->name + work_text(plan.work));
    run->run();
    run->fetch();
    Checks checks;
    phase("validation: the CPU reference" + work_text(plan.work) + ", and the comparison");
    plan.validate(checks);
    rec["accuracy"] = checks.to_json();
    ok = checks.passed();
    if (!ok) rec["reason"] = checks.first_failure();
  }
  if (c.benches()) {
    if (ok) {
      DSA_TRACE_RANGE("time");
      phase("timing " + v->name);
      const TimingStats t = measure(c.timing, [&] { return run->run(); });
      rec["timing"] = to_json(t);
      rec["throughput"] = throughput_json(plan.work, t.median);
      if (v->backend == Backend::cuda) rec["share_of_ceiling"] = ceiling_share(ctx.ceilings, rec["throughput"], plan.compute_ceiling);
    } else {
      rec["timing"] = nullptr;
      rec["timing_note"] = "not timed: validation failed";
    }
  }
  rec["status"] = !ok ? "failed" : c.validates() ? "passed" : "not_verified";
  rec["work"] = to_json(plan.work);
  rec["memory"] = {{"peak_rss_bytes", peak_rss_bytes()},
                   {"peak_is_per_case", peak_is_per_case()},
                   {"input_bytes", plan.input_bytes},
                   {"output_bytes", plan.output_bytes}};
  const RunTelemetry tel = run->telemetry();
  if (tel.device_peak_bytes >= 0) rec["memory"]["device_peak_bytes"] = tel.device_peak_bytes;
  // One clock reading per run: the validation run, the warm-ups, then the samples.
  if (!tel.sm_clock_mhz.empty()) rec["sm_clock_mhz"] = tel.sm_clock_mhz;
  return rec;
}

std::vector<std::int64_t> dims(const Shape& s) { return s.to_vector(); }

nlohmann::json run_indexer(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed, const std::vector<Backend>& backends) {
  const IndexerData d = make_indexer_data(c, seed);
  HostTensor<float> scores({c.queries, c.context});
  const IndexerArgs args{d.shape, d.ops, scores};
  OpPlan plan;
  plan.work = indexer_work(d.shape, c.dtype);
  plan.compute_ceiling = c.dtype == DType::fp8_e4m3 ? "fp8_tflops" : "bf16_tflops";
  const double scale_bytes = c.dtype == DType::fp8_e4m3 ? 4.0 : 0.0;
  plan.input_bytes = static_cast<double>(c.queries) * c.index_heads * (c.index_head_dim * bytes_of(c.dtype) + scale_bytes + 4.0) +
                     static_cast<double>(c.context) * (c.index_head_dim * bytes_of(c.dtype) + scale_bytes);
  plan.output_bytes = static_cast<double>(scores.bytes());
  plan.poison = [&] { poison(scores); };
  plan.validate = [&](Checks& ch) {
    HostTensor<float> ref;
    ref::indexer_scores(d.shape, d.ops.q, d.ops.k, d.ops.w, ref);
    ch.compare_output("scores", scores.span(), ref.span(), dims(ref.shape()), c.tol.abs, c.tol.rel, c.tol.cos_diff,
                      c.tol.min_pass_fraction);
    if (c.dtype != DType::f32) {
      // The precision cost of the storage format itself (not of the kernel): the
      // reference on the quantised operands against the reference on exact ones.
      HostTensor<float> exact;
      ref::indexer_scores(d.shape, d.raw.q, d.raw.k, d.raw.w, exact);
      const ValueReport q = compare_values(ref.span(), exact.span(), 0, 0);
      ch.metric("quantisation", "rel_l2", q.rel_l2);
      ch.metric("quantisation", "cos_diff", q.cos_diff);
      ch.at_most("quantisation.cos_diff", q.cos_diff, c.tol.quant_cos_diff,
                 std::string(dtype_name(c.dtype)) + " scores vs unquantised fp32 scores");
    }
  };
  return execute(c, ctx, indexer_variants(), backends, args, plan);
}

nlohmann::json run_topk(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed, const std::vector<Backend>& backends) {
  const TopkData d = make_topk_data(c, seed);
  HostTensor<std::int32_t> indices({c.queries, c.topk});
  const TopkArgs args{d.scores, d.ends, indices};
  OpPlan plan;
  plan.work = topk_work(d.ends, d.k);
  plan.input_bytes = static_cast<double>(d.scores.bytes());
  plan.output_bytes = static_cast<double>(indices.bytes());
  plan.poison = [&] { poison(indices); };
  plan.validate = [&](Checks& ch) {
    HostTensor<std::int32_t> ref;
    ref::topk(d.scores, d.ends, d.k, ref);
    ch.compare_indices("indices", indices, ref);
  };
  return execute(c, ctx, topk_variants(), backends, args, plan);
}

// Shared by the three attention ops: poison and compare out / lse.
void attention_plan(const CaseSpec& c, HostTensor<float>& out, HostTensor<float>& lse, OpPlan& plan,
                    std::function<void(HostTensor<float>&, HostTensor<float>&, HostTensor<float>*)> reference) {
  plan.output_bytes = static_cast<double>(out.numel()) * bytes_of(c.dtype) + static_cast<double>(lse.bytes());
  plan.poison = [&out, &lse] {
    poison(out);
    poison(lse);
  };
  plan.validate = [&c, &out, &lse, reference](Checks& ch) {
    HostTensor<float> ref_out, ref_lse, magnitude;
    reference(ref_out, ref_lse, &magnitude);
    ch.compare_attention("out", out.span(), ref_out.span(), magnitude.span(), dims(ref_out.shape()), c.tol);
    ch.compare_lse("lse", lse.span(), ref_lse.span(), dims(ref_lse.shape()), c.tol.lse_rel);
  };
}

nlohmann::json run_attention(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed, const std::vector<Backend>& backends) {
  const AttentionData d = make_attention_data(c, seed);
  const AttentionShape& sh = d.shape;
  HostTensor<float> out({sh.queries, sh.heads, sh.d_v}), lse({sh.queries, sh.heads});
  OpPlan plan;
  plan.compute_ceiling = "bf16_tflops";
  const double b = bytes_of(c.dtype);
  const double q_bytes = static_cast<double>(d.q.numel()) * b;
  // MQA ops: the latent cache as stored (the FP8 rows hold d_v codes, scales, bf16 rope).
  const bool fp8_cache = c.op != Op::dense_attention_mha && c.kv_cache_dtype == DType::fp8_e4m3;
  const double cache_bytes = static_cast<double>(c.context) * static_cast<double>(mla_cache_bytes_per_token(
                                 c.d_v, c.d_qk - c.d_v, fp8_cache ? DType::fp8_e4m3 : c.dtype));
  switch (c.op) {
    case Op::sparse_attention: {
      const SparseMqaArgs args{sh, d.q, d.kv, d.indices, out, lse, c.dtype, fp8_cache};
      plan.work = sparse_attention_work(sh, d.indices, c.dtype, c.kv_cache_dtype);
      plan.input_bytes = q_bytes + cache_bytes + static_cast<double>(d.indices.bytes());
      attention_plan(c, out, lse, plan, [&](HostTensor<float>& o, HostTensor<float>& l, HostTensor<float>* m) {
        ref::sparse_mqa(sh, d.q, d.kv, d.indices, o, l, m);
      });
      return execute(c, ctx, sparse_mqa_variants(), backends, args, plan);
    }
    case Op::dense_attention_mqa: {
      const DenseMqaArgs args{sh, d.q, d.kv, out, lse, c.dtype, fp8_cache};
      plan.work = dense_mqa_work(sh, c.dtype, c.kv_cache_dtype);
      plan.input_bytes = q_bytes + cache_bytes;
      attention_plan(c, out, lse, plan, [&](HostTensor<float>& o, HostTensor<float>& l, HostTensor<float>* m) {
        ref::dense_mqa(sh, d.q, d.kv, o, l, m);
      });
      return execute(c, ctx, dense_mqa_variants(), backends, args, plan);
    }
    default: {
      const DenseMhaArgs args{sh, d.q, d.k, d.v, out, lse, c.dtype};
      plan.work = dense_mha_work(sh, c.dtype);
      plan.input_bytes = q_bytes + static_cast<double>(d.k.numel() + d.v.numel()) * b;
      attention_plan(c, out, lse, plan, [&](HostTensor<float>& o, HostTensor<float>& l, HostTensor<float>* m) {
        ref::dense_mha(sh, d.q, d.k, d.v, o, l, m);
      });
      return execute(c, ctx, dense_mha_variants(), backends, args, plan);
    }
  }
}

}  // namespace

nlohmann::json run_op_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed, const std::vector<Backend>& backends) {
  if (ctx.phase) ctx.phase("making the inputs");
  switch (c.op) {
    case Op::indexer: return run_indexer(c, ctx, seed, backends);
    case Op::topk: return run_topk(c, ctx, seed, backends);
    case Op::sparse_attention:
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa: return run_attention(c, ctx, seed, backends);
    case Op::dsa_vs_dense:
    case Op::model_prefill:
    case Op::model_decode: break;
  }
  throw std::logic_error("run_op_case: not a single-op case");
}

}  // namespace dsa::bench
