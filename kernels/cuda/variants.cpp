// The CUDA variants: uploads at prepare(), a timed launch per run(), downloads at
// fetch(). Host code only (C++20); the kernels live in the .cu files.
#include "kernels/cuda_variants.h"

#include <cuda_runtime.h>

#include <functional>

#include "core/dtype.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/timing.h"
#include "kernels/cuda/topk.h"

namespace dsa {

namespace {

// One prepared GPU op. Each run() is a cold sample: the L2 is flushed, then events
// bracket the launch alone. Outputs were poisoned on the device at prepare(), so a
// validation run that leaves an element unwritten shows it after fetch().
class CudaRun final : public OpRun {
 public:
  CudaRun(std::function<void(cudaStream_t)> launch, std::function<void()> fetch)
      : launch_(std::move(launch)), fetch_(std::move(fetch)) {}
  double run() override {
    flusher_.flush(stream_);
    const double s = timer_.time(stream_, [&] { launch_(stream_); });
    clocks_.push_back(sm_clock_mhz());
    return s;
  }
  void fetch() override {
    DSA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    fetch_();
  }
  RunTelemetry telemetry() const override {
    return {clocks_, static_cast<std::int64_t>(device_bytes_peak())};
  }

 private:
  cudaStream_t stream_ = nullptr;  // the legacy default stream: one op at a time
  std::function<void(cudaStream_t)> launch_;
  std::function<void()> fetch_;
  L2Flusher flusher_;
  EventTimer timer_;
  std::vector<int> clocks_;
};

// Poison bytes: 0xFF is NaN for fp32; 0xFE... is a negative, impossible index
// (not -1, which is the padding value a kernel legitimately writes).
constexpr int kPoisonFloatByte = 0xFF;
constexpr int kPoisonIndexByte = 0xFE;

std::optional<std::string> indexer_unsupported(const IndexerArgs& a) {
  if (a.in.dtype != DType::fp8_e4m3 && a.in.dtype != DType::bf16)
    return std::string("operands in ") + std::string(dtype_name(a.in.dtype)) + " (the kernel takes fp8 or bf16)";
  return cuda::indexer_unsupported(a.shape.heads, a.shape.head_dim, a.shape.keys, a.in.dtype == DType::fp8_e4m3);
}

std::unique_ptr<OpRun> prepare_indexer(const IndexerArgs& a) {
  const bool fp8 = a.in.dtype == DType::fp8_e4m3;
  struct Buffers {
    DeviceBuffer<std::uint8_t> q8, k8;
    DeviceBuffer<std::uint16_t> q16, k16;
    DeviceBuffer<float> qs, ks, w, scores;
  };
  auto b = std::make_shared<Buffers>();
  if (fp8) {
    b->q8 = to_device(a.in.q_codes.data(), a.in.q_codes.span().size());
    b->k8 = to_device(a.in.k_codes.data(), a.in.k_codes.span().size());
    b->qs = to_device(a.in.q_scales.data(), a.in.q_scales.span().size());
    b->ks = to_device(a.in.k_scales.data(), a.in.k_scales.span().size());
  } else {  // the operands are bf16 values held in floats: send their bit patterns
    auto bits = [](const HostTensor<float>& t) {
      std::vector<std::uint16_t> v(t.span().size());
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = float_to_bf16_bits(t.data()[i]);
      return v;
    };
    const auto q = bits(a.in.q), k = bits(a.in.k);
    b->q16 = to_device(q.data(), q.size());
    b->k16 = to_device(k.data(), k.size());
  }
  b->w = to_device(a.in.w.data(), a.in.w.span().size());
  b->scores = DeviceBuffer<float>(a.scores.span().size());
  b->scores.fill_bytes(kPoisonFloatByte);
  cuda::IndexerLaunch p;
  p.q = fp8 ? static_cast<const void*>(b->q8.get()) : b->q16.get();
  p.k = fp8 ? static_cast<const void*>(b->k8.get()) : b->k16.get();
  p.q_scale = fp8 ? b->qs.get() : nullptr;
  p.k_scale = fp8 ? b->ks.get() : nullptr;
  p.w = b->w.get();
  p.scores = b->scores.get();
  p.queries = a.shape.queries;
  p.keys = a.shape.keys;
  p.heads = a.shape.heads;
  p.head_dim = a.shape.head_dim;
  p.query_offset = a.shape.query_offset;
  p.causal = a.shape.causal;
  p.fp8 = fp8;
  return std::make_unique<CudaRun>([p, b](cudaStream_t s) { cuda::launch_indexer(p, s); },
                                   [b, &a] { b->scores.download(a.scores.data(), a.scores.span().size()); });
}

std::unique_ptr<OpRun> prepare_topk(const TopkArgs& a) {
  struct Buffers {
    DeviceBuffer<float> scores;
    DeviceBuffer<std::int64_t> ends;
    DeviceBuffer<std::int32_t> indices;
  };
  auto b = std::make_shared<Buffers>();
  b->scores = to_device(a.scores.data(), a.scores.span().size());
  b->ends = to_device(a.ends.data(), a.ends.size());
  b->indices = DeviceBuffer<std::int32_t>(a.indices.span().size());
  b->indices.fill_bytes(kPoisonIndexByte);
  cuda::TopkLaunch p;
  p.scores = b->scores.get();
  p.ends = b->ends.get();
  p.indices = b->indices.get();
  p.rows = a.scores.size(0);
  p.cols = a.scores.size(1);
  p.k = a.indices.size(1);
  return std::make_unique<CudaRun>([p, b](cudaStream_t s) { cuda::launch_topk(p, s); },
                                   [b, &a] { b->indices.download(a.indices.data(), a.indices.span().size()); });
}

}  // namespace

std::vector<Variant<IndexerArgs>> cuda_indexer_variants() {
  return {{"cuda.indexer.mma", Backend::cuda,
           "tensor-core indexer (mma.sync: fp8 m16n8k32 or bf16 m16n8k16), 64-key tiles shared by 4 queries",
           indexer_unsupported, prepare_indexer}};
}

std::vector<Variant<TopkArgs>> cuda_topk_variants() {
  return {{"cuda.topk.radix", Backend::cuda, "one block per row: 4 exact 8-bit histogram passes, position-ordered scan",
           [](const TopkArgs& a) -> std::optional<std::string> {
             if (a.scores.size(1) > 0xFFFFFFFFll) return "rows longer than 2^32 columns";
             return std::nullopt;
           },
           prepare_topk}};
}

// The attention kernels arrive with the next issue; until then the CPU runs them.
std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_variants() { return {}; }
std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_variants() { return {}; }
std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_variants() { return {}; }

}  // namespace dsa
