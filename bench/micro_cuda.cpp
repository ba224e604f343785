// Google Benchmark micro-benchmarks of the CUDA kernels at the real DSA shapes
// (indexer 64 x 128 in FP8, top-k 2048) over contexts 4K..128K. Manual time: each
// iteration is one cold sample (L2 flushed) timed with CUDA events around the launch.
//   build/bin/dsa-micro-cuda --benchmark_filter=Indexer
#include <benchmark/benchmark.h>

#include <string>

#include "bench/inputs.h"
#include "bench/work.h"
#include "core/indexer_operands.h"
#include "kernels/cuda_device.h"
#include "kernels/registry.h"

namespace {

using namespace dsa;

bool have_device(benchmark::State& st) {
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

// queries == 1: decode; otherwise a prefill chunk of `queries` at the end of the context.
void indexer(benchmark::State& st, std::int64_t queries) {
  if (!have_device(st)) return;
  const std::int64_t S = st.range(0), T = std::min(queries, S);
  HostTensor<float> q({T, 64, 128}), k({S, 128}), w({T, 64});
  bench::fill_normal(q.span(), 0.3, 1);
  bench::fill_normal(k.span(), 0.3, 2);
  bench::fill_normal(w.span(), 0.01, 3);
  const IndexerOperands ops = prepare_indexer_operands(q, k, w, DType::fp8_e4m3, false);
  const IndexerShape sh{T, S, 64, 128, S - T, true};
  HostTensor<float> scores({T, S});
  const IndexerArgs args{sh, ops, scores};
  auto run = by_name(indexer_variants(), "cuda.indexer.mma").prepare(args);
  run->run();  // warm-up: module load, first-touch
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::indexer_work(sh, DType::fp8_e4m3));
}

void BM_CudaIndexerDecode(benchmark::State& st) { indexer(st, 1); }
void BM_CudaIndexerPrefill4096(benchmark::State& st) { indexer(st, 4096); }

void BM_CudaTopk(benchmark::State& st) {
  if (!have_device(st)) return;
  const std::int64_t S = st.range(0), rows = 64;
  HostTensor<float> scores({rows, S});
  bench::fill_normal(scores.span(), 1.0, 4);
  const std::vector<std::int64_t> ends(static_cast<std::size_t>(rows), S);
  HostTensor<std::int32_t> idx({rows, 2048});
  const TopkArgs args{scores, ends, idx};
  auto run = by_name(topk_variants(), "cuda.topk.radix").prepare(args);
  run->run();
  for (auto _ : st) st.SetIterationTime(run->run());
  counters(st, bench::topk_work(ends, 2048));
}

BENCHMARK(BM_CudaIndexerDecode)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaIndexerPrefill4096)->RangeMultiplier(2)->Range(4096, 65536)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudaTopk)->RangeMultiplier(2)->Range(4096, 131072)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
