// Google Benchmark micro-benchmarks of the CUDA kernels at the real DSA shapes
// (indexer 64 x 128 in FP8, top-k 2048, 128 attention heads, MLA 576/512, MHA
// 192/128) over contexts 4K..128K. Manual time: each iteration is one cold sample
// (L2 flushed) timed with CUDA events around the launch.
//   build/bin/dsa-micro-cuda --benchmark_filter=Indexer
// The *Phases benchmarks run a kernel's profiled instantiation (kernels/cuda/
// phase_clock.cuh) and report where its time goes, phase by phase, as counters:
//   build/bin/dsa-micro-cuda --benchmark_filter=Phases
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/inputs.h"
#include "bench/work.h"
#include "core/indexer_operands.h"
#include "core/mla_cache.h"
#include "reference/attention.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/phases.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda_device.h"
#include "kernels/cuda_variants.h"
#include "kernels/registry.h"

namespace {

using namespace dsa;

// A device to run on, and `variant` not among the kernels that hung in their first-run
// tests earlier in a GPU session: DSA_HUNG_KERNELS names a file of such kernel names, one
// a line (scripts/gpu-check.sh writes it), so a hung kernel costs one time limit, not one
// per benchmark that runs it.
bool have_device(benchmark::State& st, const char* variant) {
  if (const char* hung = std::getenv("DSA_HUNG_KERNELS")) {
    std::ifstream in(hung);
    for (std::string line; std::getline(in, line);)
      if (line == variant) {
        st.SkipWithError((std::string("not run: ") + variant + " hung in its first-run tests (" + hung + ")").c_str());
        return false;
      }
  }
  std::string why;
  if (cuda_device_count(&why) > 0) return true;
  st.SkipWithError(why.c_str());
  return false;
}

template <class Args>
const Variant<Args>& by_name(const std::vector<Variant<Args>>& all, const char* name) {
  for (const auto& v : all)
    if (v.name == name) return v;
  throw std::runtime_error(std::string("no variant ") + name);
}

void counters(benchmark::State& st, const bench::Work& w) {
  if (w.flop > 0) st.counters["TFLOPS"] = benchmark::Counter(w.flop * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GB/s"] = benchmark::Counter(w.bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// `batch` sequences of T queries at the end of an S-key context (T == 1: decode; more: a
// prefill chunk), each over its own copy of the keys on the device, as the decode sweep
// batches them: the keys cross the memory bus batch times, nothing is shared through L2.
struct IndexerInputs {
  IndexerShape sh;
  IndexerOperands ops;
  std::vector<HostTensor<float>> scores;
  std::vector<IndexerArgs> args;  // refer to the members above: never copied or moved
  std::vector<const IndexerArgs*> ptrs;
  IndexerInputs(std::int64_t S, std::int64_t T, int batch) : sh{T, S, 64, 128, S - T, true} {
    HostTensor<float> q({T, 64, 128}), k({S, 128}), w({T, 64});
    bench::fill_normal(q.span(), 0.3, 1);
    bench::fill_normal(k.span(), 0.3, 2);
    bench::fill_normal(w.span(), 0.01, 3);
    ops = prepare_indexer_operands(q, k, w, DType::fp8_e4m3, false);
    for (int b = 0; b < batch; ++b) scores.emplace_back(Shape{T, S});
    for (int b = 0; b < batch; ++b) args.push_back(IndexerArgs{sh, ops, scores[static_cast<std::size_t>(b)]});
    for (const IndexerArgs& a : args) ptrs.push_back(&a);
  }
  IndexerInputs(const IndexerInputs&) = delete;
  IndexerInputs& operator=(const IndexerInputs&) = delete;
  bench::Work work() const {
    bench::Work w = bench::indexer_work(sh, DType::fp8_e4m3);
    w.flop *= static_cast<double>(args.size());
    w.bytes *= static_cast<double>(args.size());
    return w;
  }
};

void indexer(benchmark::State& st, std::int64_t queries, const char* variant = "cuda.indexer.mma", int batch = 1) {
  if (!have_device(st, variant)) return;
  const IndexerInputs in(st.range(0), std::min(queries, st.range(0)), batch);
  auto run = prepare_batch(by_name(indexer_variants(), variant), in.ptrs);
  run->run();  // warm-up: module load, first-touch
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, in.work());
}

void BM_CudaIndexerDecode(benchmark::State& st) { indexer(st, 1); }
void BM_CudaIndexerPrefill4096(benchmark::State& st) { indexer(st, 4096); }
void BM_CudaIndexerWgmmaDecode(benchmark::State& st) { indexer(st, 1, "cuda.indexer.wgmma"); }
void BM_CudaIndexerWgmmaPrefill4096(benchmark::State& st) { indexer(st, 4096, "cuda.indexer.wgmma"); }
void BM_CudaIndexerKeyrowsPrefill4096(benchmark::State& st) { indexer(st, 4096, "cuda.indexer.keyrows"); }
// The decode sweep's indexer stages: batch 64 x 2 queries (FP8 decode) and batch 1 x 1,
// the heads-as-rows wgmma kernel against the keys-as-rows one.
void BM_CudaIndexerBatchWgmmaB64(benchmark::State& st) { indexer(st, 2, "cuda.indexer.wgmma", 64); }
void BM_CudaIndexerBatchKeyrowsB64(benchmark::State& st) { indexer(st, 2, "cuda.indexer.keyrows", 64); }
void BM_CudaIndexerBatchWgmmaB1(benchmark::State& st) { indexer(st, 1, "cuda.indexer.wgmma"); }
void BM_CudaIndexerBatchKeyrowsB1(benchmark::State& st) { indexer(st, 1, "cuda.indexer.keyrows"); }

// Top-k of `rows` rows of S Gaussian scores (every position valid), k = 2048: 64 rows
// as a decode batch of 64, 1 row as batch 1, 512 rows as a prefill chunk (the issue's
// target shape at 64K); each kernel by name.
HostTensor<float> topk_scores(std::int64_t rows, std::int64_t S) {
  HostTensor<float> scores({rows, S});
  bench::fill_normal(scores.span(), 1.0, 4);
  return scores;
}

// filter_stages > 0: cuda.topk.filter cut after that many of its kernels
// (cuda_topk_filter_stage_variants) instead of the variant named.
void topk(benchmark::State& st, std::int64_t rows, const char* variant, int filter_stages = 0) {
  if (!have_device(st, variant)) return;
  const std::int64_t S = st.range(0);
  const HostTensor<float> scores = topk_scores(rows, S);
  const std::vector<std::int64_t> ends(static_cast<std::size_t>(rows), S);
  HostTensor<std::int32_t> idx({rows, 2048});
  const TopkArgs args{scores, ends, idx};
  auto run = filter_stages > 0
                 ? cuda_topk_filter_stage_variants().at(static_cast<std::size_t>(filter_stages - 1)).prepare(args)
                 : by_name(topk_variants(), variant).prepare(args);
  run->run();
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::topk_work(ends, 2048));
}

void BM_CudaTopk(benchmark::State& st) { topk(st, 64, "cuda.topk.radix"); }
void BM_CudaTopkOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.radix"); }
void BM_CudaTopkSplit(benchmark::State& st) { topk(st, 64, "cuda.topk.split"); }
void BM_CudaTopkSplitOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.split"); }
void BM_CudaTopkSample(benchmark::State& st) { topk(st, 64, "cuda.topk.sample"); }
void BM_CudaTopkSampleOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.sample"); }
void BM_CudaTopkPrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.radix"); }
void BM_CudaTopkSamplePrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.sample"); }
void BM_CudaTopkSample256Prefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.sample256"); }
void BM_CudaTopkSamplePrefetchPrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.sample_prefetch"); }
void BM_CudaTopkSampleAtomicsPrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.sample_atomics"); }
void BM_CudaTopkSampleAtomicsOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.sample_atomics"); }
// The filter top-k (three kernels over all rows) beside the sampled and split ones at
// the same shapes: 64 rows, 1 row, 512 rows of 64K.
void BM_CudaTopkFilter(benchmark::State& st) { topk(st, 64, "cuda.topk.filter"); }
void BM_CudaTopkFilterOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.filter"); }
void BM_CudaTopkFilterPrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.filter"); }
void BM_CudaTopkFilterFusedPrefill512(benchmark::State& st) { topk(st, 512, "cuda.topk.filter_fused"); }
void BM_CudaTopkFilterFusedOneRow(benchmark::State& st) { topk(st, 1, "cuda.topk.filter_fused"); }
// Its first st.range(1) kernels alone (1: bound, 2: and filter, 3: all) at the target
// shape, so each kernel's time is the difference of two rows of the table.
void BM_CudaTopkFilterStagesPrefill512(benchmark::State& st) {
  topk(st, 512, "cuda.topk.filter", static_cast<int>(st.range(1)));
}
void BM_CudaTopkSampleAtomicsPrefetchPrefill512(benchmark::State& st) {
  topk(st, 512, "cuda.topk.sample_atomics_prefetch");
}

// The inputs of each attention benchmark, shared by its timing and its phase-table form.
// Sparse MLA: `queries` tokens at the end of a context of S with 2048 distinct causal
// indices each, 128 heads; fp8: the cache rounded through the 656-byte FP8 rows.
struct SparseInputs {
  AttentionShape sh;
  HostTensor<float> q, kv;
  HostTensor<std::int32_t> idx;
};
SparseInputs sparse_inputs(std::int64_t S, std::int64_t queries, bool fp8) {
  const std::int64_t T = std::min(queries, S);
  SparseInputs in{{T, S, 128, 576, 512, ref::model_softmax_scale(), S - T}, HostTensor<float>({T, 128, 576}),
                  HostTensor<float>({S, 576}), {}};
  bench::fill_normal(in.q.span(), 0.3, 5);
  bench::fill_normal(in.kv.span(), 0.3, 6);
  if (fp8) round_through_fp8_mla(in.kv.data(), S, 512, 64);
  in.idx = bench::make_sparse_indices(key_ends(T, S - T, S, true), S, 2048, 0.0, 0, 7);
  return in;
}

// Dense MQA-mode decode over the whole cache of S: one query, 128 heads.
struct DenseDecodeInputs {
  AttentionShape sh;
  HostTensor<float> q, kv;
};
DenseDecodeInputs dense_decode_inputs(std::int64_t S, bool fp8) {
  DenseDecodeInputs in{{1, S, 128, 576, 512, ref::model_softmax_scale(), S - 1}, HostTensor<float>({1, 128, 576}),
                       HostTensor<float>({S, 576})};
  bench::fill_normal(in.q.span(), 0.3, 8);
  bench::fill_normal(in.kv.span(), 0.3, 9);
  if (fp8) round_through_fp8_mla(in.kv.data(), S, 512, 64);
  return in;
}

// Dense MHA-mode causal prefill: the last 4096 queries of a context of S, 128 heads.
struct MhaInputs {
  AttentionShape sh;
  HostTensor<float> q, k, v;
};
MhaInputs mha_inputs(std::int64_t S) {
  const std::int64_t T = std::min<std::int64_t>(4096, S);
  MhaInputs in{{T, S, 128, 192, 128, ref::model_softmax_scale(), S - T}, HostTensor<float>({T, 128, 192}),
               HostTensor<float>({S, 128, 192}), HostTensor<float>({S, 128, 128})};
  bench::fill_normal(in.q.span(), 0.3, 10);
  bench::fill_normal(in.k.span(), 0.3, 11);
  bench::fill_normal(in.v.span(), 1.0, 12);
  return in;
}

void sparse_mla(benchmark::State& st, std::int64_t queries, bool fp8, const char* variant = "cuda.sparse_mqa.mma") {
  if (!have_device(st, variant)) return;
  const SparseInputs in = sparse_inputs(st.range(0), queries, fp8);
  const AttentionShape& sh = in.sh;
  HostTensor<float> out({sh.queries, 128, 512}), lse({sh.queries, 128});
  const SparseMqaArgs args{sh, in.q, in.kv, in.idx, out, lse, DType::bf16, fp8};
  auto run = by_name(sparse_mqa_variants(), variant).prepare(args);
  run->run();
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::sparse_attention_work(sh, in.idx, DType::bf16, fp8 ? DType::fp8_e4m3 : DType::bf16));
}

void BM_CudaSparsePrefill2048(benchmark::State& st) { sparse_mla(st, 2048, false); }
// FlashMLA's decode benchmark shape: 64 sequences x 2 queries (next_n = 2) per step.
void BM_CudaSparseDecodeFp8Batch64(benchmark::State& st) { sparse_mla(st, 128, true); }
void BM_CudaSparseDecodeBf16Batch1(benchmark::State& st) { sparse_mla(st, 1, false); }
void BM_CudaSparseWgmmaPrefill2048(benchmark::State& st) { sparse_mla(st, 2048, false, "cuda.sparse_mqa.wgmma"); }
void BM_CudaSparseWgmmaDecodeFp8Batch64(benchmark::State& st) { sparse_mla(st, 128, true, "cuda.sparse_mqa.wgmma"); }
void BM_CudaSparseWgmmaFp8RegDecodeFp8Batch64(benchmark::State& st) {
  sparse_mla(st, 128, true, "cuda.sparse_mqa.wgmma_fp8reg");
}
void BM_CudaSparseSeesawPrefill2048(benchmark::State& st) { sparse_mla(st, 2048, false, "cuda.sparse_mqa.seesaw"); }
void BM_CudaSparseSeesawDecodeBf16Batch64(benchmark::State& st) { sparse_mla(st, 128, false, "cuda.sparse_mqa.seesaw"); }

void dense_decode(benchmark::State& st, bool fp8, const char* variant = "cuda.dense_mqa.mma") {
  if (!have_device(st, variant)) return;
  const DenseDecodeInputs in = dense_decode_inputs(st.range(0), fp8);
  const AttentionShape& sh = in.sh;
  HostTensor<float> out({1, 128, 512}), lse({1, 128});
  const DenseMqaArgs args{sh, in.q, in.kv, out, lse, DType::bf16, fp8};
  auto run = by_name(dense_mqa_variants(), variant).prepare(args);
  run->run();
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::dense_mqa_work(sh, DType::bf16, fp8 ? DType::fp8_e4m3 : DType::bf16));
}

void BM_CudaDenseDecodeBf16(benchmark::State& st) { dense_decode(st, false); }
void BM_CudaDenseDecodeFp8(benchmark::State& st) { dense_decode(st, true); }
void BM_CudaDenseWgmmaDecodeBf16(benchmark::State& st) { dense_decode(st, false, "cuda.dense_mqa.wgmma"); }
void BM_CudaDenseWgmmaDecodeFp8(benchmark::State& st) { dense_decode(st, true, "cuda.dense_mqa.wgmma"); }
void BM_CudaDenseWgmmaFp8RegDecodeFp8(benchmark::State& st) { dense_decode(st, true, "cuda.dense_mqa.wgmma_fp8reg"); }
void BM_CudaDenseSeesawDecodeBf16(benchmark::State& st) { dense_decode(st, false, "cuda.dense_mqa.seesaw"); }
void BM_CudaDenseSeesawTmaDecodeBf16(benchmark::State& st) { dense_decode(st, false, "cuda.dense_mqa.seesaw_tma"); }
void BM_CudaDenseWgmmaTmaDecodeBf16(benchmark::State& st) { dense_decode(st, false, "cuda.dense_mqa.wgmma_tma"); }

void dense_mha_prefill(benchmark::State& st, const char* variant) {
  if (!have_device(st, variant)) return;
  const MhaInputs in = mha_inputs(st.range(0));
  const AttentionShape& sh = in.sh;
  HostTensor<float> out({sh.queries, 128, 128}), lse({sh.queries, 128});
  const DenseMhaArgs args{sh, in.q, in.k, in.v, out, lse, DType::bf16};
  auto run = by_name(dense_mha_variants(), variant).prepare(args);
  run->run();
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::dense_mha_work(sh, DType::bf16));
}

void BM_CudaDenseMhaPrefill4096(benchmark::State& st) { dense_mha_prefill(st, "cuda.dense_mha.flash"); }
void BM_CudaDenseMhaWgmmaPrefill4096(benchmark::State& st) { dense_mha_prefill(st, "cuda.dense_mha.wgmma"); }
void BM_CudaDenseMhaOverlapPrefill4096(benchmark::State& st) { dense_mha_prefill(st, "cuda.dense_mha.overlap"); }

// --- where the time goes: profiled instantiations -------------------------------

// The plain kernel's time after a warm-up run (the first launch loads the module), and
// the cycles the profiled run `phased` adds to the sink in one launch after its own
// warm-up; both outputs are fetched for the caller's check.
struct Profiled {
  double plain_s;
  cuda::PhaseTotals totals;
};
Profiled profile_once(OpRun& plain, OpRun& phased) {
  plain.run();
  const double plain_s = plain.run();
  plain.fetch();
  phased.run();
  cuda::phase_sink_reset();
  phased.run();
  phased.fetch();
  return {plain_s, cuda::phase_sink_read()};
}

// One counter per phase (`<phase>_us`): its cycles as microseconds per `per` (rows, or
// key steps) at the device's SM clock, or per `per_once` for the phases whose bit is
// set in `once_mask` (epilogues); phases that took no time are left out.
void phase_counters(benchmark::State& st, const cuda::PhaseTotals& t, const char* const* names, int count,
                    double per, unsigned once_mask = 0, double per_once = 1.0) {
  const auto info = cuda_device_info(0);
  const double mhz = info && info->sm_clock_khz > 0 ? info->sm_clock_khz / 1e3 : 1.0;
  st.counters["sm_mhz"] = mhz;
  for (int i = 0; i < count; ++i) {
    if (t.cycles[static_cast<std::size_t>(i)] == 0) continue;
    const double divisor = (once_mask >> i) & 1u ? per_once : per;
    st.counters[std::string(names[i]) + "_us"] = static_cast<double>(t.cycles[static_cast<std::size_t>(i)]) / divisor / mhz;
  }
}

// A sampled top-k's phases per row (`variant`: the default or sample_atomics), 512 rows
// of 64K (the target shape). The profiled kernel must give the plain one's indices, bit
// for bit.
void topk_phases(benchmark::State& st, const char* variant) {
  if (!have_device(st, variant)) return;
  const std::int64_t S = st.range(0), rows = 512;
  const HostTensor<float> scores = topk_scores(rows, S);
  const std::vector<std::int64_t> ends(static_cast<std::size_t>(rows), S);
  HostTensor<std::int32_t> plain_idx({rows, 2048}), phased_idx({rows, 2048});
  const TopkArgs plain_args{scores, ends, plain_idx}, phased_args{scores, ends, phased_idx};  // runs keep pointers to them
  auto plain = by_name(topk_variants(), variant).prepare(plain_args);
  auto phased = by_name(cuda_topk_phase_variants(), variant).prepare(phased_args);
  const auto [plain_s, t] = profile_once(*plain, *phased);
  if (!std::equal(plain_idx.span().begin(), plain_idx.span().end(), phased_idx.span().begin())) {
    st.SkipWithError("the profiled top-k's indices differ from the plain kernel's");
    return;
  }
  for (auto _ : st) st.SetIterationTime(phased->run());
  const double profiled_rows = static_cast<double>(std::max<unsigned long long>(1, t.events[cuda::topk_event_rows]));
  phase_counters(st, t, cuda::kTopkSamplePhaseNames, cuda::topk_phase_count, profiled_rows);
  st.counters["plain_us"] = plain_s * 1e6;
  st.counters["exact_rows"] = static_cast<double>(t.events[cuda::topk_event_exact_rows]);
  st.counters["candidates"] = static_cast<double>(t.events[cuda::topk_event_candidates]) / profiled_rows;
  counters(st, bench::topk_work(ends, 2048));
}

// The keys-as-rows indexer's phases per key tile (the prologue per block) at the decode
// target (64 sequences x 2 queries) or the prefill one (4096 queries), its scores checked
// against the plain kernel's first (the same arithmetic: bit for bit).
void indexer_phases(benchmark::State& st, std::int64_t queries, int batch) {
  const char* variant = "cuda.indexer.keyrows";
  if (!have_device(st, variant)) return;
  const IndexerInputs plain_in(st.range(0), queries, batch), phased_in(st.range(0), queries, batch);
  auto plain = prepare_batch(by_name(indexer_variants(), variant), plain_in.ptrs);
  auto phased = prepare_batch(by_name(cuda_indexer_phase_variants(), variant), phased_in.ptrs);
  const auto [plain_s, t] = profile_once(*plain, *phased);
  for (int b = 0; b < batch; ++b) {
    const auto& x = plain_in.scores[static_cast<std::size_t>(b)].span();
    const auto& y = phased_in.scores[static_cast<std::size_t>(b)].span();
    if (std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) {
      st.SkipWithError("the profiled indexer's scores differ from the plain kernel's");
      return;
    }
  }
  for (auto _ : st) st.SetIterationTime(phased->run());
  const double tiles = static_cast<double>(std::max<unsigned long long>(1, t.events[cuda::keyrows_event_tiles]));
  phase_counters(st, t, cuda::kKeyrowsPhaseNames, cuda::keyrows_phase_count, tiles, 1u << cuda::keyrows_phase_prologue,
                 static_cast<double>(std::max<unsigned long long>(1, t.recorders)));
  st.counters["plain_us"] = plain_s * 1e6;
  st.counters["tiles_per_block"] = tiles / static_cast<double>(std::max<unsigned long long>(1, t.recorders));
  counters(st, plain_in.work());
}

void BM_CudaIndexerKeyrowsPhasesB64(benchmark::State& st) { indexer_phases(st, 2, 64); }
void BM_CudaIndexerKeyrowsPhasesPrefill4096(benchmark::State& st) { indexer_phases(st, 4096, 1); }

void BM_CudaTopkSamplePhasesPrefill512(benchmark::State& st) { topk_phases(st, "cuda.topk.sample"); }
void BM_CudaTopkSampleAtomicsPhasesPrefill512(benchmark::State& st) { topk_phases(st, "cuda.topk.sample_atomics"); }

// An attention kernel's phases: those of its loop per key step (or round) and recorder,
// those in `once_mask` (epilogues) per recorder, checked against the plain kernel's
// output (the same arithmetic: they must agree).
struct PhaseTable {
  const char* const* names;
  int count;
  int step_event;      // the event counting the key steps (rounds)
  unsigned once_mask;  // the phases that run once
  int once_event;      // the event counting what those divide by; -1: the recorders
};

void attention_phases(benchmark::State& st, OpRun& plain, OpRun& phased, const HostTensor<float>& plain_out,
                      const HostTensor<float>& phased_out, const PhaseTable& table) {
  const auto [plain_s, t] = profile_once(plain, phased);
  double diff = 0;
  for (std::size_t i = 0; i < plain_out.span().size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(plain_out.span()[i] - phased_out.span()[i])));
  if (!(diff <= 1e-3)) {  // also NaN: an unwritten or wrong element
    st.SkipWithError(("the profiled kernel's output differs from the plain one's by " + std::to_string(diff)).c_str());
    return;
  }
  for (auto _ : st) st.SetIterationTime(phased.run());
  const auto event = [&](int i) {
    return static_cast<double>(std::max<unsigned long long>(1, i < 0 ? t.recorders : t.events[static_cast<std::size_t>(i)]));
  };
  const double steps = event(table.step_event), once = event(table.once_event);
  phase_counters(st, t, table.names, table.count, steps, table.once_mask, once);
  st.counters["plain_us"] = plain_s * 1e6;
  st.counters["steps_per_recorder"] = steps / once;
  st.counters["max_diff"] = diff;
}

const PhaseTable kMqaPhases{cuda::kMqaPhaseNames, cuda::mqa_phase_count, cuda::mqa_event_tiles,
                            1u << cuda::mqa_phase_epilogue, -1};
const PhaseTable kMhaPhases{cuda::kMhaPhaseNames, cuda::mha_phase_count, cuda::mha_event_steps,
                            1u << cuda::mha_phase_epilogue, -1};
// The seesaw kernel: each phase is one warpgroup's, per round of two tiles per block;
// the epilogues per block (warpgroup 0 counts the rounds and the blocks).
const PhaseTable kSeesawPhases{cuda::kSeesawPhaseNames, cuda::seesaw_phase_count, cuda::seesaw_event_rounds,
                               (1u << cuda::seesaw_wg0_epilogue) | (1u << cuda::seesaw_wg1_epilogue),
                               cuda::seesaw_event_blocks};

void dense_phases(benchmark::State& st, const char* variant, const PhaseTable& table = kMqaPhases) {
  if (!have_device(st, variant)) return;
  const DenseDecodeInputs in = dense_decode_inputs(st.range(0), false);
  const AttentionShape& sh = in.sh;
  HostTensor<float> out({1, 128, 512}), lse({1, 128}), out2({1, 128, 512}), lse2({1, 128});
  const DenseMqaArgs plain_args{sh, in.q, in.kv, out, lse, DType::bf16, false},
      phased_args{sh, in.q, in.kv, out2, lse2, DType::bf16, false};
  auto plain = by_name(dense_mqa_variants(), variant).prepare(plain_args);
  auto phased = by_name(cuda_dense_mqa_phase_variants(), variant).prepare(phased_args);
  attention_phases(st, *plain, *phased, out, out2, table);
  counters(st, bench::dense_mqa_work(sh, DType::bf16, DType::bf16));
}

void BM_CudaDenseWgmmaPhasesDecodeBf16(benchmark::State& st) { dense_phases(st, "cuda.dense_mqa.wgmma"); }
void BM_CudaDenseWgmmaTmaPhasesDecodeBf16(benchmark::State& st) { dense_phases(st, "cuda.dense_mqa.wgmma_tma"); }
void BM_CudaDenseSeesawPhasesDecodeBf16(benchmark::State& st) {
  dense_phases(st, "cuda.dense_mqa.seesaw", kSeesawPhases);
}
void BM_CudaDenseSeesawTmaPhasesDecodeBf16(benchmark::State& st) {
  dense_phases(st, "cuda.dense_mqa.seesaw_tma", kSeesawPhases);
}

// queries: 128 (64 sequences x 2 as one batch of the FP8 decode target; run as one
// sequence here, which keeps the work and the grid) or 2048 (a prefill chunk).
void sparse_phases(benchmark::State& st, std::int64_t queries, bool fp8, const char* variant = "cuda.sparse_mqa.wgmma") {
  if (!have_device(st, variant)) return;
  const SparseInputs in = sparse_inputs(st.range(0), queries, fp8);
  const AttentionShape& sh = in.sh;
  const std::int64_t T = sh.queries;
  HostTensor<float> out({T, 128, 512}), lse({T, 128}), out2({T, 128, 512}), lse2({T, 128});
  const SparseMqaArgs plain_args{sh, in.q, in.kv, in.idx, out, lse, DType::bf16, fp8},
      phased_args{sh, in.q, in.kv, in.idx, out2, lse2, DType::bf16, fp8};
  auto plain = by_name(sparse_mqa_variants(), variant).prepare(plain_args);
  auto phased = by_name(cuda_sparse_mqa_phase_variants(), variant).prepare(phased_args);
  attention_phases(st, *plain, *phased, out, out2, kMqaPhases);
  counters(st, bench::sparse_attention_work(sh, in.idx, DType::bf16, fp8 ? DType::fp8_e4m3 : DType::bf16));
}

void BM_CudaSparseWgmmaPhasesDecodeFp8Batch64(benchmark::State& st) { sparse_phases(st, 128, true); }
void BM_CudaSparseWgmmaPhasesPrefill2048(benchmark::State& st) { sparse_phases(st, 2048, false); }
void BM_CudaSparseWgmmaFp8RegPhasesDecodeFp8Batch64(benchmark::State& st) {
  sparse_phases(st, 128, true, "cuda.sparse_mqa.wgmma_fp8reg");
}

void BM_CudaDenseMhaWgmmaPhasesPrefill4096(benchmark::State& st) {
  const char* variant = "cuda.dense_mha.wgmma";
  if (!have_device(st, variant)) return;
  const MhaInputs in = mha_inputs(st.range(0));
  const AttentionShape& sh = in.sh;
  const std::int64_t T = sh.queries;
  HostTensor<float> out({T, 128, 128}), lse({T, 128}), out2({T, 128, 128}), lse2({T, 128});
  const DenseMhaArgs plain_args{sh, in.q, in.k, in.v, out, lse, DType::bf16},
      phased_args{sh, in.q, in.k, in.v, out2, lse2, DType::bf16};
  auto plain = by_name(dense_mha_variants(), variant).prepare(plain_args);
  auto phased = by_name(cuda_dense_mha_phase_variants(), variant).prepare(phased_args);
  attention_phases(st, *plain, *phased, out, out2, kMhaPhases);
  counters(st, bench::dense_mha_work(sh, DType::bf16));
}

BENCHMARK(BM_CudaIndexerDecode)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerPrefill4096)->RangeMultiplier(2)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaIndexerWgmmaDecode)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerWgmmaPrefill4096)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaIndexerBatchWgmmaB64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerBatchKeyrowsB64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerBatchWgmmaB1)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerBatchKeyrowsB1)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerKeyrowsPrefill4096)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaTopk)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSplit)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSplitOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSample)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSampleOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSamplePrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSample256Prefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSamplePrefetchPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSampleAtomicsPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSampleAtomicsPrefetchPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilter)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilterOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilterPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilterFusedPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilterFusedOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkFilterStagesPrefill512)
    ->Args({65536, 1})
    ->Args({65536, 2})
    ->Args({65536, 3})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSampleAtomicsOneRow)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparsePrefill2048)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaSparseDecodeFp8Batch64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseDecodeBf16Batch1)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseDecodeBf16)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseDecodeFp8)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseWgmmaPrefill2048)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaSparseWgmmaDecodeFp8Batch64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaDecodeBf16)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaDecodeFp8)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseWgmmaFp8RegDecodeFp8Batch64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaFp8RegDecodeFp8)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseSeesawPrefill2048)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaSparseSeesawDecodeBf16Batch64)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseSeesawDecodeBf16)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseSeesawTmaDecodeBf16)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaTmaDecodeBf16)->RangeMultiplier(4)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseMhaPrefill4096)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaDenseMhaWgmmaPrefill4096)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaDenseMhaOverlapPrefill4096)->RangeMultiplier(4)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaIndexerKeyrowsPhasesB64)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerKeyrowsPhasesPrefill4096)->Arg(65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaTopkSamplePhasesPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaTopkSampleAtomicsPhasesPrefill512)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaPhasesDecodeBf16)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseWgmmaTmaPhasesDecodeBf16)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseSeesawPhasesDecodeBf16)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseSeesawTmaPhasesDecodeBf16)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseWgmmaPhasesDecodeFp8Batch64)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSparseWgmmaPhasesPrefill2048)->Arg(65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaSparseWgmmaFp8RegPhasesDecodeFp8Batch64)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaDenseMhaWgmmaPhasesPrefill4096)->Arg(65536)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
