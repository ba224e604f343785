// Google Benchmark micro-benchmarks of the CPU backend's kernels at the real DSA
// shapes (indexer 64 x 128, 128 heads at 576/512, top-k 2048) over context lengths.
// Counters: FLOP/s (rate of the op's counted work) and bytes/s.
//   build/bin/dsa-micro-cpu --benchmark_filter=sparse
#include <benchmark/benchmark.h>

#include "bench/inputs.h"
#include "bench/work.h"
#include "core/indexer_operands.h"
#include "core/rng.h"
#include "kernels/cpu/cpu_ops.h"
#include "reference/attention.h"

namespace {

using namespace dsa;

HostTensor<float> normal(Shape s, std::uint64_t seed, double sd) {
  HostTensor<float> t(s);
  bench::fill_normal(t.span(), sd, seed);
  return t;
}

void set_counters(benchmark::State& st, const bench::Work& w) {
  if (w.flop > 0) st.counters["FLOP/s"] = benchmark::Counter(w.flop, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["bytes/s"] = benchmark::Counter(w.bytes, benchmark::Counter::kIsIterationInvariantRate);
}

// Decode: one query over the whole context.
void BM_IndexerDecode(benchmark::State& st) {
  const std::int64_t S = st.range(0);
  const auto ops = prepare_indexer_operands(normal({1, 64, 128}, 1, 0.3), normal({S, 128}, 2, 0.3),
                                            normal({1, 64}, 3, 0.01), DType::fp8_e4m3, false);
  const IndexerShape sh{1, S, 64, 128, S - 1, true};
  HostTensor<float> scores({1, S});
  for (auto _ : st) cpu::indexer_scores(sh, ops.q, ops.k, ops.w, scores);
  set_counters(st, bench::indexer_work(sh, DType::fp8_e4m3));
}

void BM_TopkDecode(benchmark::State& st) {
  const std::int64_t S = st.range(0);
  const auto scores = normal({1, S}, 4, 1.0);
  const std::vector<std::int64_t> ends = {S};
  HostTensor<std::int32_t> idx({1, 2048});
  for (auto _ : st) cpu::topk_radix(scores, ends, idx);
  set_counters(st, bench::topk_work(ends, 2048));
}

void BM_SparseDecode(benchmark::State& st) {
  const std::int64_t S = st.range(0);
  const double scale = ref::model_softmax_scale();
  const auto q = normal({1, 128, 576}, 5, 0.3), kv = normal({S, 576}, 6, 0.3);
  const auto ends = key_ends(1, S - 1, S, true);
  const auto idx = bench::make_sparse_indices(ends, S, 2048, 0.0, 0, 7);
  const AttentionShape sh{1, S, 128, 576, 512, scale, S - 1};
  HostTensor<float> out({1, 128, 512}), lse({1, 128});
  for (auto _ : st) cpu::sparse_mqa(sh, q, kv, idx, out, lse, DType::bf16);
  set_counters(st, bench::sparse_attention_work(sh, idx, DType::bf16, DType::bf16));
}

void BM_DenseDecode(benchmark::State& st) {
  const std::int64_t S = st.range(0);
  const auto q = normal({1, 128, 576}, 8, 0.3), kv = normal({S, 576}, 9, 0.3);
  const AttentionShape sh{1, S, 128, 576, 512, ref::model_softmax_scale(), S - 1};
  HostTensor<float> out({1, 128, 512}), lse({1, 128});
  for (auto _ : st) cpu::dense_mqa(sh, q, kv, out, lse, DType::bf16);
  set_counters(st, bench::dense_mqa_work(sh, DType::bf16, DType::bf16));
}

// Wall-clock time: the kernels use every thread, so the main thread's CPU time would
// understate what a user waits for.
BENCHMARK(BM_IndexerDecode)->RangeMultiplier(2)->Range(4096, 16384)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TopkDecode)->RangeMultiplier(2)->Range(4096, 131072)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SparseDecode)->RangeMultiplier(2)->Range(4096, 16384)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DenseDecode)->RangeMultiplier(2)->Range(4096, 16384)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
