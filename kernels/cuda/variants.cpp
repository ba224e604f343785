// The CUDA variants: uploads at prepare(), a timed launch per run(), downloads at
// fetch(). Host code only (C++20); the kernels live in the .cu files.
#include "kernels/cuda_variants.h"
#include "kernels/cuda_device.h"

#include <cuda_runtime.h>

#include <functional>
#include <optional>

#include "core/dtype.h"
#include "core/host_memory.h"
#include "core/mla_cache.h"
#include "core/parallel.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/timing.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_filter.h"
#include "kernels/cuda/topk_split.h"

namespace dsa {

namespace {

// One prepared GPU op. Each run() is a cold sample: the L2 is flushed, then events
// bracket the launch alone. Outputs were poisoned on the device at prepare(), so a
// validation run that leaves an element unwritten shows it after fetch().
class CudaRun final : public OpRun {
 public:
  CudaRun(std::function<void(cudaStream_t)> launch, std::function<void()> fetch,
          std::function<void()> refresh = nullptr)
      : launch_(std::move(launch)), fetch_(std::move(fetch)), refresh_(std::move(refresh)) {}
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
  void refresh_inputs() override {
    if (!refresh_) return;
    DSA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    refresh_();
  }
  RunTelemetry telemetry() const override {
    return {clocks_, static_cast<std::int64_t>(device_bytes_peak())};
  }

 private:
  cudaStream_t stream_ = nullptr;  // the legacy default stream: one op at a time
  std::function<void(cudaStream_t)> launch_;
  std::function<void()> fetch_;
  std::function<void()> refresh_;
  L2Flusher flusher_;
  EventTimer timer_;
  std::vector<int> clocks_;
};

// Poison bytes: 0xFF is NaN for fp32; 0xFE... is a negative, impossible index
// (not -1, which is the padding value a kernel legitimately writes).
constexpr int kPoisonFloatByte = 0xFF;
constexpr int kPoisonIndexByte = 0xFE;

// Values already rounded to bf16 (held in floats) -> their bit patterns (gigabytes at
// 64K: written first by the conversion's threads, host_memory.h).
HostVector<std::uint16_t> bf16_bits_of(const HostTensor<float>& t) {
  HostVector<std::uint16_t> v(t.span().size());
  to_bf16_bits(t.span(), v);
  return v;
}

std::optional<std::string> indexer_unsupported(const IndexerArgs& a) {
  if (a.in.dtype != DType::fp8_e4m3 && a.in.dtype != DType::bf16)
    return std::string("operands in ") + std::string(dtype_name(a.in.dtype)) + " (the kernel takes fp8 or bf16)";
  return cuda::indexer_unsupported(a.shape.heads, a.shape.head_dim, a.shape.keys, a.in.dtype == DType::fp8_e4m3);
}

// --- batches: the ops of several sequences of one shape as one launch ---------------

// One part of every argument block of a batch (all of one size), back to back, into d
// (sized for the batch) or into a new buffer.
template <class T, class Args, class Part>
void upload_into(DeviceBuffer<T>& d, const std::vector<const Args*>& as, Part part) {
  const std::size_t each = d.size() / as.size();
  for (std::size_t i = 0; i < as.size(); ++i) {
    const auto src = part(*as[i]);
    if (src.size() != each) throw CudaError("batched op: the sequences of a batch must have one shape");
    if (each) DSA_CUDA_CHECK(cudaMemcpy(d.get() + i * each, src.data(), each * sizeof(T), cudaMemcpyHostToDevice));
  }
}
template <class T, class Args, class Part>
DeviceBuffer<T> upload_all(const std::vector<const Args*>& as, Part part) {
  const std::size_t each = part(*as.front()).size();
  DeviceBuffer<T> d(each * as.size());
  upload_into(d, as, part);
  return d;
}
// The device result, split back into every sequence's host tensor.
template <class T, class Args, class Part>
void download_all(const DeviceBuffer<T>& d, const std::vector<const Args*>& as, Part part) {
  const std::size_t each = d.size() / as.size();
  for (std::size_t i = 0; i < as.size(); ++i)
    if (each) DSA_CUDA_CHECK(cudaMemcpy(part(*as[i]).data(), d.get() + i * each, each * sizeof(T), cudaMemcpyDeviceToHost));
}

// Both indexer kernels take the same launch: `launch` picks one.
using IndexerLauncher = void (*)(const cuda::IndexerLaunch&, cudaStream_t);

std::unique_ptr<OpRun> prepare_indexer_with(const std::vector<const IndexerArgs*>& as, IndexerLauncher launch) {
  const IndexerArgs& a = *as.front();
  const bool fp8 = a.in.dtype == DType::fp8_e4m3;
  struct Buffers {
    DeviceBuffer<std::uint8_t> q8, k8;
    DeviceBuffer<std::uint16_t> q16, k16;
    DeviceBuffer<float> qs, ks, w, scores;
  };
  auto b = std::make_shared<Buffers>();
  if (fp8) {
    b->q8 = upload_all<std::uint8_t>(as, [](const IndexerArgs& x) { return x.in.q_codes.span(); });
    b->k8 = upload_all<std::uint8_t>(as, [](const IndexerArgs& x) { return x.in.k_codes.span(); });
    b->qs = upload_all<float>(as, [](const IndexerArgs& x) { return x.in.q_scales.span(); });
    b->ks = upload_all<float>(as, [](const IndexerArgs& x) { return x.in.k_scales.span(); });
  } else {  // the operands are bf16 values held in floats: send their bit patterns
    HostVector<std::uint16_t> q, k;
    for (const IndexerArgs* x : as) {
      const auto qb = bf16_bits_of(x->in.q), kb = bf16_bits_of(x->in.k);
      q.insert(q.end(), qb.begin(), qb.end());
      k.insert(k.end(), kb.begin(), kb.end());
    }
    b->q16 = to_device(q.data(), q.size());
    b->k16 = to_device(k.data(), k.size());
  }
  b->w = upload_all<float>(as, [](const IndexerArgs& x) { return x.in.w.span(); });
  b->scores = DeviceBuffer<float>(a.scores.span().size() * as.size());
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
  p.batch = static_cast<int>(as.size());
  return std::make_unique<CudaRun>([p, b, launch](cudaStream_t s) { launch(p, s); },
                                   [b, as] { download_all(b->scores, as, [](const IndexerArgs& x) { return x.scores.span(); }); });
}

std::unique_ptr<OpRun> prepare_indexer_batch(const std::vector<const IndexerArgs*>& as) {
  return prepare_indexer_with(as, cuda::launch_indexer);
}
std::unique_ptr<OpRun> prepare_indexer_wgmma_batch(const std::vector<const IndexerArgs*>& as) {
  return prepare_indexer_with(as, cuda::launch_indexer_wgmma);
}

std::optional<std::string> indexer_wgmma_unsupported(const IndexerArgs& a) {
  return cuda::indexer_wgmma_unsupported(a.shape.heads, a.shape.head_dim, a.shape.keys, a.in.dtype == DType::fp8_e4m3);
}
std::unique_ptr<OpRun> prepare_indexer_keyrows_batch(const std::vector<const IndexerArgs*>& as) {
  return prepare_indexer_with(as, cuda::launch_indexer_keyrows);
}
std::optional<std::string> indexer_keyrows_unsupported(const IndexerArgs& a) {
  return cuda::indexer_keyrows_unsupported(a.shape.heads, a.shape.head_dim, a.shape.queries, a.in.dtype == DType::fp8_e4m3);
}

std::optional<std::string> topk_row_unsupported(const TopkArgs& a) {
  if (a.scores.size(1) > 0xFFFFFFFFll) return "rows longer than 2^32 columns";
  return std::nullopt;
}

// Top-k is per row already: a batch is more rows. The kernels take the same inputs; the
// split and filter ones also have a workspace, sized once here.
struct TopkBuffers {
  DeviceBuffer<float> scores;
  DeviceBuffer<std::int64_t> ends;
  DeviceBuffer<std::int32_t> indices;
  DeviceBuffer<unsigned int> hist;          // split kernel only
  DeviceBuffer<unsigned long long> counts;  // split kernel only
  DeviceBuffer<unsigned char> workspace;    // filter kernel only
};

std::span<const float> topk_scores_of(const TopkArgs& x) { return x.scores.span(); }

// Uploads the batch, poisons the outputs and fills the fields both launches share.
template <class Launch>
std::shared_ptr<TopkBuffers> stage_topk(const std::vector<const TopkArgs*>& as, Launch& p) {
  const TopkArgs& a = *as.front();
  auto b = std::make_shared<TopkBuffers>();
  b->scores = upload_all<float>(as, topk_scores_of);
  b->ends = upload_all<std::int64_t>(as, [](const TopkArgs& x) { return x.ends; });
  b->indices = DeviceBuffer<std::int32_t>(a.indices.span().size() * as.size());
  b->indices.fill_bytes(kPoisonIndexByte);
  p.scores = b->scores.get();
  p.ends = b->ends.get();
  p.indices = b->indices.get();
  p.rows = a.scores.size(0) * static_cast<std::int64_t>(as.size());
  p.cols = a.scores.size(1);
  p.k = a.indices.size(1);
  return b;
}

std::unique_ptr<OpRun> topk_run(std::function<void(cudaStream_t)> launch, std::shared_ptr<TopkBuffers> b,
                                 const std::vector<const TopkArgs*>& as) {
  return std::make_unique<CudaRun>(std::move(launch),
                                   [b, as] { download_all(b->indices, as, [](const TopkArgs& x) { return x.indices.span(); }); },
                                   [b, as] { upload_into(b->scores, as, topk_scores_of); });
}

// The kernels of one block per row (radix, sampled): the same inputs, the launcher apart.
template <void (*kLaunch)(const cuda::TopkLaunch&, cudaStream_t)>
std::unique_ptr<OpRun> prepare_topk_rows(const std::vector<const TopkArgs*>& as) {
  cuda::TopkLaunch p;
  auto b = stage_topk(as, p);
  return topk_run([p, b](cudaStream_t s) { kLaunch(p, s); }, b, as);
}

std::unique_ptr<OpRun> prepare_topk_split_batch(const std::vector<const TopkArgs*>& as) {
  cuda::TopkSplitLaunch p;
  auto b = stage_topk(as, p);
  p.blocks = cuda::topk_split_blocks(p.rows, p.cols, cuda_sm_count());
  b->hist = DeviceBuffer<unsigned int>(std::max<std::size_t>(1, cuda::topk_split_hist_words(p.rows)));
  b->counts = DeviceBuffer<unsigned long long>(std::max<std::size_t>(1, static_cast<std::size_t>(p.rows * p.blocks)));
  p.hist = b->hist.get();
  p.counts = b->counts.get();
  return topk_run([p, b](cudaStream_t s) { cuda::launch_topk_split(p, s); }, b, as);
}

// The filter top-k's first `kStages` kernels (3: the whole kernel; 0: the fused form).
template <int kStages>
std::unique_ptr<OpRun> prepare_topk_filter_batch(const std::vector<const TopkArgs*>& as) {
  cuda::TopkFilterLaunch p;
  auto b = stage_topk(as, p);
  b->workspace = DeviceBuffer<unsigned char>(cuda::topk_filter_workspace_bytes(p.rows));
  p.workspace = b->workspace.get();
  if constexpr (kStages == 0) return topk_run([p, b](cudaStream_t s) { cuda::launch_topk_filter_fused(p, s); }, b, as);
  else return topk_run([p, b](cudaStream_t s) { cuda::launch_topk_filter_stages(p, kStages, s); }, b, as);
}

std::optional<std::string> topk_filter_unsupported_args(const TopkArgs& a) {
  if (auto why = topk_row_unsupported(a)) return why;
  return cuda::topk_filter_unsupported(a.scores.size(1));
}

template <int kStages>
Variant<TopkArgs> topk_filter_variant(std::string description, const char* not_validated) {
  return {kStages == 0 ? "cuda.topk.filter_fused" : "cuda.topk.filter", Backend::cuda, std::move(description),
          topk_filter_unsupported_args,
          [](const TopkArgs& a) { return prepare_topk_filter_batch<kStages>({&a}); }, prepare_topk_filter_batch<kStages>,
          {}, not_validated};
}

// --- attention ------------------------------------------------------------------

std::optional<std::string> bf16_only(DType d) {
  return std::string("storage dtype ") + std::string(dtype_name(d)) + " (the kernel stores q and out in bf16)";
}

// An MQA kernel takes bf16 storage (q and out) and the shapes and caches its own check
// kShape (heads, d_qk, d_v, top-k, sparse, FP8 cache) admits.
template <std::optional<std::string> (*kShape)(int, int, int, std::int64_t, bool, bool)>
std::optional<std::string> mqa_args_unsupported(const AttentionShape& sh, DType dtype, std::int64_t topk, bool sparse,
                                                bool fp8_cache) {
  if (dtype != DType::bf16) return bf16_only(dtype);
  return kShape(sh.heads, sh.d_qk, sh.d_v, topk, sparse, fp8_cache);
}
template <std::optional<std::string> (*kShape)(int, int, int, std::int64_t, bool, bool)>
std::optional<std::string> sparse_args_unsupported(const SparseMqaArgs& a) {
  return mqa_args_unsupported<kShape>(a.shape, a.dtype, a.indices.size(1), true, a.fp8_cache);
}
template <std::optional<std::string> (*kShape)(int, int, int, std::int64_t, bool, bool)>
std::optional<std::string> dense_args_unsupported(const DenseMqaArgs& a) {
  return mqa_args_unsupported<kShape>(a.shape, a.dtype, 0, false, a.fp8_cache);
}
std::optional<std::string> mqa_wgmma_unsupported_args(const AttentionShape& sh, DType dtype, std::int64_t topk,
                                                      bool sparse) {
  if (dtype != DType::bf16) return bf16_only(dtype);
  return cuda::mqa_wgmma_unsupported(sh.heads, sh.d_qk, sh.d_v, topk, sparse);
}

// bf16 outputs on the device -> the host's float tensor.
void download_bf16(const DeviceBuffer<std::uint16_t>& d, HostTensor<float>& out) {
  HostVector<std::uint16_t> bits(out.span().size());
  d.download(bits.data(), bits.size());
  from_bf16_bits(bits, out.span());
}

struct AttentionBuffers {
  DeviceBuffer<std::uint16_t> q, k, v, out;
  DeviceBuffer<std::uint8_t> kv8;
  DeviceBuffer<std::int32_t> indices;
  DeviceBuffer<float> lse, workspace;
};

// Outputs poisoned (0xFFFF is a bf16 NaN, 0xFF.. an fp32 NaN) so unwritten elements show.
void alloc_attention_outputs(AttentionBuffers& b, const HostTensor<float>& out, const HostTensor<float>& lse) {
  b.out = DeviceBuffer<std::uint16_t>(out.span().size());
  b.out.fill_bytes(kPoisonFloatByte);
  b.lse = DeviceBuffer<float>(lse.span().size());
  b.lse.fill_bytes(kPoisonFloatByte);
}

// One sequence's tensors of an MQA-mode op (sparse: with indices).
struct MqaPart {
  const HostTensor<float>* q;
  const HostTensor<float>* kv;
  const HostTensor<std::int32_t>* indices;  // nullptr: dense
  HostTensor<float>* out;
  HostTensor<float>* lse;
};

std::vector<const MqaPart*> parts_ptrs(const std::vector<MqaPart>& parts) {
  std::vector<const MqaPart*> v;
  for (const MqaPart& p : parts) v.push_back(&p);
  return v;
}

// MQA-mode attention for a batch of sequences of one shape: their queries and caches
// back to back, one launch (seq_queries tells the kernel where a sequence ends).
// Both MQA kernels take the same launch: `launch` picks one.
using MqaLauncher = void (*)(const cuda::MqaLaunch&, cudaStream_t);

std::unique_ptr<OpRun> prepare_mqa(const AttentionShape& sh, const std::vector<MqaPart>& parts, bool fp8_cache,
                                   MqaLauncher launch) {
  auto b = std::make_shared<AttentionBuffers>();
  const auto B = static_cast<std::int64_t>(parts.size());
  const bool sparse = parts.front().indices != nullptr;
  HostVector<std::uint16_t> qb, kb;
  HostVector<std::uint8_t> packed;
  const int rope = sh.d_qk - sh.d_v;
  const std::size_t row = fp8_cache ? fp8_mla_row_bytes(sh.d_v, rope) : 0;
  for (const MqaPart& part : parts) {
    if (part.q->shape() != parts.front().q->shape() || part.kv->shape() != parts.front().kv->shape())
      throw CudaError("batched MQA: the sequences of a batch must have one shape");
    const std::size_t at_q = qb.size();
    qb.resize(at_q + part.q->span().size());
    to_bf16_bits(part.q->span(), std::span(qb).subspan(at_q));
    if (fp8_cache) {
      const std::size_t at = packed.size();
      packed.resize(at + row * static_cast<std::size_t>(sh.keys));
      parallel_for((sh.keys + 255) / 256, [&](std::int64_t blk) {  // 128K rows per sequence at the long end
        for (std::int64_t s = blk * 256; s < std::min(sh.keys, (blk + 1) * 256); ++s)
          pack_fp8_mla_row(&part.kv->data()[s * sh.d_qk], sh.d_v, rope, &packed[at + static_cast<std::size_t>(s) * row]);
      });
    } else {
      const std::size_t at_k = kb.size();
      kb.resize(at_k + part.kv->span().size());
      to_bf16_bits(part.kv->span(), std::span(kb).subspan(at_k));
    }
  }
  b->q = to_device(qb.data(), qb.size());
  if (fp8_cache) b->kv8 = to_device(packed.data(), packed.size());
  else b->k = to_device(kb.data(), kb.size());
  const auto indices_of = [](const MqaPart& x) { return x.indices->span(); };
  if (sparse) b->indices = upload_all<std::int32_t>(parts_ptrs(parts), indices_of);
  b->out = DeviceBuffer<std::uint16_t>(parts.front().out->span().size() * parts.size());
  b->out.fill_bytes(kPoisonFloatByte);
  b->lse = DeviceBuffer<float>(parts.front().lse->span().size() * parts.size());
  b->lse.fill_bytes(kPoisonFloatByte);
  cuda::MqaLaunch p;
  p.q = b->q.get();
  p.kv = fp8_cache ? static_cast<const void*>(b->kv8.get()) : b->k.get();
  p.indices = sparse ? b->indices.get() : nullptr;
  p.topk = sparse ? parts.front().indices->size(1) : 0;
  p.out = b->out.get();
  p.lse = b->lse.get();
  p.queries = sh.queries * B;
  p.seq_queries = B > 1 ? sh.queries : 0;
  p.keys = sh.keys;
  p.heads = sh.heads;
  p.d_qk = sh.d_qk;
  p.d_v = sh.d_v;
  p.scale = static_cast<float>(sh.scale);
  p.query_offset = sh.query_offset;
  p.fp8_cache = fp8_cache;
  p.splits = cuda::mqa_choose_splits(p, cuda_sm_count());
  if (const std::size_t ws = cuda::mqa_workspace_floats(p)) {
    b->workspace = DeviceBuffer<float>(ws);
    p.workspace = b->workspace.get();
  }
  return std::make_unique<CudaRun>(
      [p, b, launch](cudaStream_t s) { launch(p, s); },
      [b, parts] {
        const std::size_t each_out = parts.front().out->span().size(), each_lse = parts.front().lse->span().size();
        HostVector<std::uint16_t> bits(b->out.size());
        b->out.download(bits.data(), bits.size());
        std::vector<float> lse(b->lse.size());
        b->lse.download(lse.data(), lse.size());
        for (std::size_t i = 0; i < parts.size(); ++i) {
          from_bf16_bits(std::span(bits).subspan(i * each_out, each_out), parts[i].out->span());
          std::copy(lse.begin() + static_cast<std::ptrdiff_t>(i * each_lse),
                    lse.begin() + static_cast<std::ptrdiff_t>((i + 1) * each_lse), parts[i].lse->data());
        }
      },
      [b, parts, sparse, indices_of] {
        if (sparse) upload_into(b->indices, parts_ptrs(parts), indices_of);
      });
}

template <MqaLauncher kLaunch>
std::unique_ptr<OpRun> prepare_sparse_batch(const std::vector<const SparseMqaArgs*>& as) {
  std::vector<MqaPart> parts;
  for (const SparseMqaArgs* a : as) parts.push_back({&a->q, &a->kv, &a->indices, &a->out, &a->lse});
  return prepare_mqa(as.front()->shape, parts, as.front()->fp8_cache, kLaunch);
}

template <MqaLauncher kLaunch>
std::unique_ptr<OpRun> prepare_dense_mqa_batch(const std::vector<const DenseMqaArgs*>& as) {
  std::vector<MqaPart> parts;
  for (const DenseMqaArgs* a : as) parts.push_back({&a->q, &a->kv, nullptr, &a->out, &a->lse});
  return prepare_mqa(as.front()->shape, parts, as.front()->fp8_cache, kLaunch);
}

using MhaLauncher = void (*)(const cuda::MhaLaunch&, cudaStream_t);

template <MhaLauncher kLaunch>
std::unique_ptr<OpRun> prepare_mha(const DenseMhaArgs& a) {
  auto b = std::make_shared<AttentionBuffers>();
  const auto qb = bf16_bits_of(a.q), kb = bf16_bits_of(a.k), vb = bf16_bits_of(a.v);
  b->q = to_device(qb.data(), qb.size());
  b->k = to_device(kb.data(), kb.size());
  b->v = to_device(vb.data(), vb.size());
  alloc_attention_outputs(*b, a.out, a.lse);
  cuda::MhaLaunch p;
  p.q = b->q.get();
  p.k = b->k.get();
  p.v = b->v.get();
  p.out = b->out.get();
  p.lse = b->lse.get();
  p.queries = a.shape.queries;
  p.keys = a.shape.keys;
  p.heads = a.shape.heads;
  p.d_qk = a.shape.d_qk;
  p.d_v = a.shape.d_v;
  p.scale = static_cast<float>(a.shape.scale);
  p.query_offset = a.shape.query_offset;
  return std::make_unique<CudaRun>([p, b](cudaStream_t s) { kLaunch(p, s); },
                                   [b, &a] {
                                     download_bf16(b->out, a.out);
                                     b->lse.download(a.lse.data(), a.lse.span().size());
                                   });
}

}  // namespace

std::vector<Variant<IndexerArgs>> cuda_indexer_variants() {
  return {// First: 386 TFLOP/s against 132 for mma.sync at the 4096 x 64K prefill (H100, 2026-11-23).
          {"cuda.indexer.wgmma", Backend::cuda,
           "warpgroup MMA (wgmma m64n128k32 e4m3, 128-byte-swizzled shared tiles), 128-key tiles shared by 8 queries; "
           "FP8, 64 heads x 128",
           indexer_wgmma_unsupported, [](const IndexerArgs& a) { return prepare_indexer_wgmma_batch({&a}); },
           prepare_indexer_wgmma_batch},
          // Every other shape (bf16, other head counts).
          {"cuda.indexer.mma", Backend::cuda,
           "tensor-core indexer (mma.sync: fp8 m16n8k32 or bf16 m16n8k16), 64-key tiles shared by 4 queries",
           indexer_unsupported, [](const IndexerArgs& a) { return prepare_indexer_batch({&a}); }, prepare_indexer_batch},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.indexer.keyrows", Backend::cuda,
           "wgmma m64n128k32 e4m3 with the keys as rows and two queries' heads as columns, so the head sum stays in "
           "registers; up to 8 queries per block, a ring of cp.async key tiles (decode: 4 stages, the batch one wave "
           "of blocks); FP8, 64 heads x 128",
           indexer_keyrows_unsupported, [](const IndexerArgs& a) { return prepare_indexer_keyrows_batch({&a}); },
           prepare_indexer_keyrows_batch, {}, "not yet run on a GPU: written without one on 2026-12-05"}};
}

std::vector<Variant<TopkArgs>> cuda_topk_variants() {
  return {// First: 205 us against 650 us for the radix kernel on 512 rows ending at 64K (H100, 2026-11-23).
          {"cuda.topk.sample", Backend::cuda,
           "one block per row, the row read about once: a 1-in-16 sample sets a bound about 2k keys reach, one "
           "pass gathers them into shared memory, exact select there; exact passes when the sample misjudges",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample>},
          {"cuda.topk.radix", Backend::cuda, "one block per row: 4 exact 8-bit histogram passes, position-ordered scan",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk>({&a}); },
           prepare_topk_rows<cuda::launch_topk>},
          // Last, but picked first for a few rows (cuda::topk_split_first_for; suites/topk-rows.json).
          {"cuda.topk.split", Backend::cuda,
           "several blocks per row (decode's few long rows): 3 histogram passes of 11/11/10 bits, counts, "
           "position-ordered write",
           [](const TopkArgs& a) { return cuda::topk_split_unsupported(a.scores.size(0), a.scores.size(1), 1); },
           [](const TopkArgs& a) { return prepare_topk_split_batch({&a}); }, prepare_topk_split_batch,
           [](const TopkArgs& a) { return cuda::topk_split_first_for(a.scores.size(0), a.scores.size(1)); }},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.topk.sample256", Backend::cuda,
           "the sampled top-k with 256-thread blocks, three per SM: one row's select phases (barrier- and "
           "shared-memory-bound) overlap other rows' streaming",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample256>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample256>, {}, "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.topk.sample_atomics", Backend::cuda,
           "the sampled top-k with its radix passes counting by plain shared-memory atomics instead of "
           "__match_any_sync (a warp of ties still one atomic)",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample_atomics>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample_atomics>, {}, "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.topk.sample_atomics_prefetch", Backend::cuda,
           "sample_atomics and sample_prefetch together: plain shared atomics in the radix passes, a 2-pass "
           "sample bound, the collect pass's next loads in flight during its scan",
           topk_row_unsupported,
           [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample_atomics_prefetch>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample_atomics_prefetch>, {},
           "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.topk.sample_prefetch", Backend::cuda,
           "the sampled top-k's 512-thread blocks with sample256's 2-pass sample bound and collect prefetch (which "
           "of sample256's changes pays)",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample_prefetch>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample_prefetch>, {}, "not yet run on a GPU: written without one on 2026-11-23"},
          topk_filter_variant<3>(
              "three kernels over all rows: a sampled bound per row, a filter pass of many blocks per row that "
              "streams the scores once into candidate lists, an exact select per row over its candidates",
              "not yet run on a GPU: written without one on 2026-12-05"),
          topk_filter_variant<0>(
              "the filter top-k with its filter and select kernels fused: each row's last filter block to finish "
              "selects, so selects overlap other rows' streaming",
              "not yet run on a GPU: written without one on 2026-12-06")};
}

std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_variants() {
  return {// First: 332 TFLOP/s against 169 for mma.sync at the 4096 x 64K prefill (H100, 2026-11-23).
          {"cuda.sparse_mqa.wgmma", Backend::cuda,
           "sparse MLA on warpgroup MMA (the model's 576/512, heads a multiple of 64): 2 warpgroups split the keys "
           "of S and the columns of O, cp.async key tiles one step ahead, bf16 or FP8 cache, split-KV",
           [](const SparseMqaArgs& a) { return mqa_wgmma_unsupported_args(a.shape, a.dtype, a.indices.size(1), true); },
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa_wgmma>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa_wgmma>},
          // Every other shape (heads not in 64s, other head dimensions).
          {"cuda.sparse_mqa.mma", Backend::cuda,
           "sparse MLA (prefill and decode): 64 heads per block share each gathered 64-key step, mma.sync bf16, "
           "bf16 or FP8 cache, split-KV when the grid is small",
           sparse_args_unsupported<cuda::mqa_unsupported>,
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa>},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.sparse_mqa.seesaw", Backend::cuda,
           "sparse MLA on warpgroup MMA with the warpgroups taking turns: each computes the scores of its own "
           "64-key tile (m64n64k16) while the other runs softmax or P V; key tiles refilled part by part through "
           "mbarriers; bf16 cache only, split-KV",
           sparse_args_unsupported<cuda::mqa_seesaw_unsupported>,
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa_seesaw>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa_seesaw>, {}, "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.sparse_mqa.wgmma_fp8reg", Backend::cuda,
           "the lock-step wgmma kernel for an FP8 cache with each step's rows loaded into registers a step ahead and "
           "dequantised into the other bf16 tile (one barrier per step, no staging area)",
           sparse_args_unsupported<cuda::mqa_wgmma_fp8regs_unsupported>,
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa_wgmma_fp8regs>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa_wgmma_fp8regs>, {},
           "not yet run on a GPU: written without one on 2026-11-23"}};
}

std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_variants() {
  return {// First: 85 us against 156 us for mma.sync on one query over a 64K bf16 cache (H100, 2026-11-23).
          {"cuda.dense_mqa.wgmma", Backend::cuda,
           "dense MQA-mode attention over the causal prefix on warpgroup MMA (the model's 576/512): the sparse "
           "wgmma kernel's steps over positions, bf16 or FP8 cache, split-KV",
           [](const DenseMqaArgs& a) { return mqa_wgmma_unsupported_args(a.shape, a.dtype, 0, false); },
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_wgmma>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_wgmma>},
          {"cuda.dense_mqa.mma", Backend::cuda,
           "dense MQA-mode attention over the causal prefix (the decode baseline): the sparse kernel's tiles over "
           "positions, split-KV for long contexts, bf16 or FP8 cache",
           dense_args_unsupported<cuda::mqa_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa>},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.dense_mqa.seesaw", Backend::cuda,
           "dense MQA-mode attention over the causal prefix with the seesaw kernel (warpgroups take turns on "
           "64-key tiles of their own), bf16 cache only, split-KV",
           dense_args_unsupported<cuda::mqa_seesaw_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_seesaw>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_seesaw>, {}, "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.dense_mqa.wgmma_tma", Backend::cuda,
           "the lock-step wgmma kernel with each key tile loaded as 9 TMA boxes by one thread (an mbarrier per "
           "tile buffer), bf16 cache only, split-KV",
           [](const DenseMqaArgs& a) {
             if (a.dtype != DType::bf16) return bf16_only(a.dtype);
             return cuda::mqa_wgmma_tma_unsupported(a.shape.heads, a.shape.d_qk, a.shape.d_v, false, a.fp8_cache);
           },
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_tma>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_tma>, {},
           "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.dense_mqa.seesaw_tma", Backend::cuda,
           "the seesaw kernel with its key tiles loaded by TMA (one 64 x 64 box per column block, rows past the "
           "last causal end as zeros), bf16 cache only, split-KV",
           dense_args_unsupported<cuda::mqa_seesaw_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_tma>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_tma>, {},
           "not yet run on a GPU: written without one on 2026-11-23"},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.dense_mqa.wgmma_fp8reg", Backend::cuda,
           "dense MQA-mode attention with the wgmma_fp8reg kernel (FP8 cache rows in registers a step ahead)",
           dense_args_unsupported<cuda::mqa_wgmma_fp8regs_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_fp8regs>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_fp8regs>, {},
           "not yet run on a GPU: written without one on 2026-11-23"}};
}

// An MHA kernel takes bf16 storage and the shapes its own check `kShape` admits.
template <std::optional<std::string> (*kShape)(int, int, int)>
std::optional<std::string> mha_args_unsupported(const DenseMhaArgs& a) {
  if (a.dtype != DType::bf16) return bf16_only(a.dtype);
  return kShape(a.shape.heads, a.shape.d_qk, a.shape.d_v);
}

std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_variants() {
  return {// First: 310 TFLOP/s against 158 for the mma.sync kernel at the 4096 x 64K prefill (H100, 2026-11-23):
          // the stronger dense baseline, so no speed-up is inflated by a weak one.
          {"cuda.dense_mha.wgmma", Backend::cuda,
           "causal flash attention on warpgroup MMA (the model's 192/128): 128 queries x 1 head per block, two "
           "warpgroups, 128-key steps by cp.async one ahead, P from registers as the A operand",
           mha_args_unsupported<cuda::mha_wgmma_unsupported>, prepare_mha<cuda::launch_mha_wgmma>},
          {"cuda.dense_mha.flash", Backend::cuda,
           "causal flash attention (FA2 style): 64 queries x 1 head per block, cp.async double-buffered K/V, "
           "P kept in registers",
           mha_args_unsupported<cuda::mha_unsupported>, prepare_mha<cuda::launch_mha>},
          // Listed last and not yet run on a GPU, so nothing picks it by default.
          {"cuda.dense_mha.overlap", Backend::cuda,
           "the wgmma MHA kernel with each step's S issued beside the previous step's P V (softmax under a "
           "product), K one step ahead of V",
           mha_args_unsupported<cuda::mha_wgmma_unsupported>, prepare_mha<cuda::launch_mha_overlap>, {}, {},
           "not yet run on a GPU: written without one on 2026-11-23"}};
}

// The profiled instantiations (kernels/cuda/phase_clock.cuh), under the names of the
// kernels they time. Only the micro-benchmarks' phase tables use them.
std::vector<Variant<IndexerArgs>> cuda_indexer_phase_variants() {
  return {{"cuda.indexer.keyrows", Backend::cuda, "the keys-as-rows indexer, each phase of each key tile timed",
           indexer_keyrows_unsupported,
           [](const IndexerArgs& a) { return prepare_indexer_with({&a}, cuda::launch_indexer_keyrows_phases); },
           [](const std::vector<const IndexerArgs*>& as) { return prepare_indexer_with(as, cuda::launch_indexer_keyrows_phases); }}};
}

std::vector<Variant<TopkArgs>> cuda_topk_filter_stage_variants() {
  return {topk_filter_variant<1>("the filter top-k's bound kernel alone", nullptr),
          topk_filter_variant<2>("the filter top-k's bound and filter kernels", nullptr),
          topk_filter_variant<3>("the filter top-k's three kernels", nullptr)};
}

std::vector<Variant<TopkArgs>> cuda_topk_phase_variants() {
  return {{"cuda.topk.sample", Backend::cuda, "the sampled top-k, each phase timed by thread 0 of each block",
           topk_row_unsupported, [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample_phases>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample_phases>},
          {"cuda.topk.sample_atomics", Backend::cuda, "the sample_atomics top-k, each phase timed by thread 0 of each block",
           topk_row_unsupported,
           [](const TopkArgs& a) { return prepare_topk_rows<cuda::launch_topk_sample_atomics_phases>({&a}); },
           prepare_topk_rows<cuda::launch_topk_sample_atomics_phases>}};
}

std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_phase_variants() {
  return {{"cuda.sparse_mqa.wgmma", Backend::cuda, "the lock-step wgmma MQA kernel, each phase of each key step timed",
           [](const SparseMqaArgs& a) { return mqa_wgmma_unsupported_args(a.shape, a.dtype, a.indices.size(1), true); },
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa_wgmma_phases>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa_wgmma_phases>},
          {"cuda.sparse_mqa.wgmma_fp8reg", Backend::cuda, "the wgmma_fp8reg kernel, each phase of each key step timed",
           sparse_args_unsupported<cuda::mqa_wgmma_fp8regs_unsupported>,
           [](const SparseMqaArgs& a) { return prepare_sparse_batch<cuda::launch_mqa_wgmma_fp8regs_phases>({&a}); },
           prepare_sparse_batch<cuda::launch_mqa_wgmma_fp8regs_phases>}};
}

std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_phase_variants() {
  return {{"cuda.dense_mqa.wgmma", Backend::cuda, "the lock-step wgmma MQA kernel, each phase of each key step timed",
           [](const DenseMqaArgs& a) { return mqa_wgmma_unsupported_args(a.shape, a.dtype, 0, false); },
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_phases>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_phases>},
          {"cuda.dense_mqa.wgmma_tma", Backend::cuda, "the wgmma_tma kernel, each phase of each key step timed",
           [](const DenseMqaArgs& a) {
             return cuda::mqa_wgmma_tma_unsupported(a.shape.heads, a.shape.d_qk, a.shape.d_v, false, a.fp8_cache);
           },
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_tma_phases>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_wgmma_tma_phases>},
          {"cuda.dense_mqa.seesaw", Backend::cuda, "the seesaw kernel, each warpgroup's phases of each round timed",
           dense_args_unsupported<cuda::mqa_seesaw_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_phases>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_phases>},
          {"cuda.dense_mqa.seesaw_tma", Backend::cuda, "the seesaw_tma kernel, each warpgroup's phases of each round timed",
           dense_args_unsupported<cuda::mqa_seesaw_unsupported>,
           [](const DenseMqaArgs& a) { return prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_tma_phases>({&a}); },
           prepare_dense_mqa_batch<cuda::launch_mqa_seesaw_tma_phases>}};
}

std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_phase_variants() {
  return {{"cuda.dense_mha.wgmma", Backend::cuda, "the wgmma MHA prefill kernel, each phase of each key step timed",
           mha_args_unsupported<cuda::mha_wgmma_unsupported>, prepare_mha<cuda::launch_mha_wgmma_phases>}};
}

}  // namespace dsa
