#include "kernels/registry.h"

#include <algorithm>
#include <chrono>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda_variants.h"

namespace dsa {

const char* backend_name(Backend b) { return b == Backend::cpu ? "cpu" : "cuda"; }

namespace {

// CPU runs are timed with the steady clock around the call; the call is synchronous.
class CpuRun final : public OpRun {
 public:
  explicit CpuRun(std::function<void()> f) : f_(std::move(f)) {}
  double run() override {
    const auto t0 = std::chrono::steady_clock::now();
    f_();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  std::function<void()> f_;
};

class SequenceOfRuns final : public OpRun {
 public:
  explicit SequenceOfRuns(std::vector<std::unique_ptr<OpRun>> runs) : runs_(std::move(runs)) {}
  double run() override {
    double s = 0;
    for (auto& r : runs_) s += r->run();
    return s;
  }
  void fetch() override {
    for (auto& r : runs_) r->fetch();
  }
  void refresh_inputs() override {
    for (auto& r : runs_) r->refresh_inputs();
  }
  RunTelemetry telemetry() const override {
    RunTelemetry t = runs_.empty() ? RunTelemetry{} : runs_.front()->telemetry();
    for (std::size_t i = 1; i < runs_.size(); ++i) {
      const RunTelemetry o = runs_[i]->telemetry();
      t.device_peak_bytes = std::max(t.device_peak_bytes, o.device_peak_bytes);
    }
    return t;
  }

 private:
  std::vector<std::unique_ptr<OpRun>> runs_;
};

template <class Args>
std::vector<Variant<Args>> with_cuda(std::vector<Variant<Args>> cuda, std::vector<Variant<Args>> cpu) {
  cpu.insert(cpu.end(), cuda.begin(), cuda.end());
  return cpu;
}

std::optional<std::string> attention_dtype_ok(DType d) {
  if (d == DType::f32 || d == DType::bf16) return std::nullopt;
  return std::string("storage dtype ") + std::string(dtype_name(d)) + " (needs fp32 or bf16)";
}

}  // namespace

std::unique_ptr<OpRun> in_sequence(std::vector<std::unique_ptr<OpRun>> runs) {
  return std::make_unique<SequenceOfRuns>(std::move(runs));
}

std::vector<int> timed_sm_clocks(std::initializer_list<const OpRun*> runs, std::size_t samples) {
  std::vector<int> out(samples, -1);
  if (samples == 0) return {};
  for (const OpRun* r : runs) {
    const std::vector<int> c = r->telemetry().sm_clock_mhz;
    if (c.size() < samples) return {};
    for (std::size_t i = 0; i < samples; ++i) {
      const int mhz = c[c.size() - samples + i];
      if (mhz >= 0 && (out[i] < 0 || mhz < out[i])) out[i] = mhz;
    }
  }
  return out;
}

const std::vector<Variant<IndexerArgs>>& indexer_variants() {
  static const std::vector<Variant<IndexerArgs>> v = with_cuda<IndexerArgs>(cuda_indexer_variants(), {
      {"cpu.indexer.fp32", Backend::cpu, "fp32 dot products over blocks of 64 keys, any dtype's dequantised values",
       nullptr,
       [](const IndexerArgs& a) {
         return std::make_unique<CpuRun>([&a] { cpu::indexer_scores(a.shape, a.in.q, a.in.k, a.in.w, a.scores); });
       }},
  });
  return v;
}

const std::vector<Variant<TopkArgs>>& topk_variants() {
  static const std::vector<Variant<TopkArgs>> v = with_cuda<TopkArgs>(cuda_topk_variants(), {
      {"cpu.topk.radix", Backend::cpu, "8-bit radix select with position-ordered ties", nullptr,
       [](const TopkArgs& a) { return std::make_unique<CpuRun>([&a] { cpu::topk_radix(a.scores, a.ends, a.indices); }); }},
  });
  return v;
}

const std::vector<Variant<SparseMqaArgs>>& sparse_mqa_variants() {
  static const std::vector<Variant<SparseMqaArgs>> v = with_cuda<SparseMqaArgs>(cuda_sparse_mqa_variants(), {
      {"cpu.sparse_mqa.online", Backend::cpu, "fp32 online softmax over gathered blocks of 64 keys",
       [](const SparseMqaArgs& a) { return attention_dtype_ok(a.dtype); },
       [](const SparseMqaArgs& a) {
         return std::make_unique<CpuRun>([&a] { cpu::sparse_mqa(a.shape, a.q, a.kv, a.indices, a.out, a.lse, a.dtype); });
       }},
  });
  return v;
}

const std::vector<Variant<DenseMqaArgs>>& dense_mqa_variants() {
  static const std::vector<Variant<DenseMqaArgs>> v = with_cuda<DenseMqaArgs>(cuda_dense_mqa_variants(), {
      {"cpu.dense_mqa.online", Backend::cpu, "fp32 online softmax over blocks of 64 keys",
       [](const DenseMqaArgs& a) { return attention_dtype_ok(a.dtype); },
       [](const DenseMqaArgs& a) {
         return std::make_unique<CpuRun>([&a] { cpu::dense_mqa(a.shape, a.q, a.kv, a.out, a.lse, a.dtype); });
       }},
  });
  return v;
}

const std::vector<Variant<DenseMhaArgs>>& dense_mha_variants() {
  static const std::vector<Variant<DenseMhaArgs>> v = with_cuda<DenseMhaArgs>(cuda_dense_mha_variants(), {
      {"cpu.dense_mha.online", Backend::cpu, "fp32 online softmax, 16 queries share each key block",
       [](const DenseMhaArgs& a) { return attention_dtype_ok(a.dtype); },
       [](const DenseMhaArgs& a) {
         return std::make_unique<CpuRun>([&a] { cpu::dense_mha(a.shape, a.q, a.k, a.v, a.out, a.lse, a.dtype); });
       }},
  });
  return v;
}

std::vector<VariantSummary> variant_summaries() {
  std::vector<VariantSummary> out;
  const auto add = [&](const char* op, const auto& all) {
    std::vector<Backend> seen;
    for (const auto& v : all) {
      const bool first = std::find(seen.begin(), seen.end(), v.backend) == seen.end();
      if (first) seen.push_back(v.backend);
      out.push_back({op, v.name, backend_name(v.backend), v.description, v.not_validated ? v.not_validated : "", first,
                     static_cast<bool>(v.first_for)});
    }
  };
  add("indexer", indexer_variants());
  add("topk", topk_variants());
  add("sparse_attention", sparse_mqa_variants());
  add("dense_attention_mqa", dense_mqa_variants());
  add("dense_attention_mha", dense_mha_variants());
  return out;
}

std::vector<std::string> all_variant_names() {
  std::vector<std::string> names;
  for (const VariantSummary& v : variant_summaries()) names.push_back(v.name);
  return names;
}

}  // namespace dsa
