// The forward pass on the GPU: the same layer as model/forward.cpp, with the project's
// kernels for the indexer, top-k and attention, cuBLAS for the matrix products (bf16
// operands, fp32 accumulation and outputs; the indexer's head weights and the MoE
// router in fp32, as the model keeps them), and small kernels for the rest
// (model/cuda/model_ops.h). Activations stay fp32 between ops, so the GPU and CPU
// forwards differ by the bf16 rounding of the matrix-product inputs.
//
// Caches live on the device: the latent rows in bf16 or the 656-byte FP8 layout, the
// indexer keys as e4m3 codes with one scale per token. MoE routing runs on the host
// (model/routing.h, shared with the CPU forward) from the router logits.
// With OpTimes requested, every op category is bracketed by stream synchronisations
// and timed on the host clock; without, the ops queue back to back.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/mla_cache.h"
#include "core/op_shapes.h"
#include "core/trace.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_filter.h"
#include "kernels/cuda/topk_split.h"
#include "kernels/cuda_device.h"
#include "kernels/cuda_variants.h"
#include "model/cuda/model_ops.h"
#include "model/forward.h"
#include "model/rope.h"
#include "model/routing.h"

namespace dsa::model {

namespace {

namespace ops = cuda_ops;
constexpr cudaStream_t kStream = nullptr;

// Device scratch handed out in order and released all at once (per layer). When a
// chunk runs out a new one is added; the next reset merges them into one of the
// total size plus an eighth, so steady-state runs allocate nothing, and a chunked
// prefill, whose scratch grows with the context (the indexer's scores, the dense
// path's expanded K and V), reallocates every few chunks rather than every chunk: each
// reallocation frees device memory, which waits for the GPU to drain (at 128K with
// 4K chunks, reallocating per chunk cost a fifth of the DSA prefill).
class Arena {
 public:
  template <class T>
  T* get(std::int64_t n) {
    const std::size_t bytes = (static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(T) + 255) & ~std::size_t{255};
    if (chunks_.empty() || used_ + bytes > chunks_.back().size()) {
      chunks_.emplace_back(std::max(bytes, std::size_t{64} << 20));
      used_ = 0;
    }
    T* p = reinterpret_cast<T*>(chunks_.back().get() + used_);
    used_ += bytes;
    total_ += bytes;
    return p;
  }
  void release() {
    chunks_.clear();
    used_ = total_ = 0;
  }
  void reset() {
    if (chunks_.size() > 1) {
      const std::size_t want = total_ + total_ / 8;
      chunks_.clear();
      chunks_.emplace_back(want);
    }
    used_ = 0;
    total_ = 0;
  }

 private:
  std::vector<DeviceBuffer<unsigned char>> chunks_;
  std::size_t used_ = 0, total_ = 0;
};

struct DevMatrix {
  std::int64_t rows = 0, cols = 0;
  DeviceBuffer<std::uint16_t> bf16;  // the product's operand
  DeviceBuffer<float> f32;           // kept in fp32 where the model computes in fp32
};

DevMatrix upload(const Matrix& m, bool fp32 = false) {
  DevMatrix d;
  d.rows = m.rows;
  d.cols = m.cols;
  if (fp32) {
    d.f32 = to_device(m.data.data(), m.data.size());
  } else {
    std::vector<std::uint16_t> bits(m.data.size());
    to_bf16_bits(m.data, bits);
    d.bf16 = to_device(bits.data(), bits.size());
  }
  return d;
}

DeviceBuffer<float> upload(const std::vector<float>& v) { return to_device(v.data(), v.size()); }

struct DevLayer {
  DeviceBuffer<float> input_norm, post_norm, q_a_norm, kv_a_norm, idx_k_norm_w, idx_k_norm_b;
  DevMatrix q_a, q_b, kv_a, kv_b, o, idx_wq_b, idx_wk, idx_weights, gate, up, down, router;
  std::vector<float> router_bias;  // routing runs on the host
  std::vector<DevMatrix> expert_gate, expert_up, expert_down;
  bool moe = false;
};

// One sequence's device caches, grown (doubling) as tokens arrive.
class GpuCache final : public ModelCache {
 public:
  GpuCache(int layers, std::size_t latent_row, int index_dim)
      : latent_row_(latent_row), index_dim_(index_dim), latent_(static_cast<std::size_t>(layers)),
        codes_(static_cast<std::size_t>(layers)), scales_(static_cast<std::size_t>(layers)) {}

  void reserve(std::int64_t tokens, AttentionMode mode) override { reserve(tokens, mode == AttentionMode::dsa); }
  void reserve(std::int64_t tokens, bool index_keys) {
    if (tokens <= capacity_ && (!index_keys || has_index_)) return;
    const std::int64_t cap = std::max<std::int64_t>(tokens, std::max<std::int64_t>(capacity_ * 2, 256));
    for (std::size_t l = 0; l < latent_.size(); ++l) {
      grow(latent_[l], latent_row_, cap);
      if (index_keys) {
        grow(codes_[l], static_cast<std::size_t>(index_dim_), cap);
        grow(scales_[l], 1, cap);
      }
    }
    has_index_ = has_index_ || index_keys;
    capacity_ = cap;
  }
  unsigned char* latent(int l) { return latent_[static_cast<std::size_t>(l)].get(); }
  std::uint8_t* codes(int l) { return codes_[static_cast<std::size_t>(l)].get(); }
  float* scales(int l) { return scales_[static_cast<std::size_t>(l)].get(); }
  bool has_index() const { return has_index_; }

 private:
  template <class T>
  void grow(DeviceBuffer<T>& b, std::size_t per_token, std::int64_t cap) {
    DeviceBuffer<T> n(per_token * static_cast<std::size_t>(cap));
    if (b.size() > 0 && length > 0)
      DSA_CUDA_CHECK(cudaMemcpy(n.get(), b.get(), per_token * static_cast<std::size_t>(length) * sizeof(T),
                                cudaMemcpyDeviceToDevice));
    b = std::move(n);
  }
  std::size_t latent_row_;
  int index_dim_;
  std::int64_t capacity_ = 0;
  bool has_index_ = false;
  std::vector<DeviceBuffer<unsigned char>> latent_;
  std::vector<DeviceBuffer<std::uint8_t>> codes_;
  std::vector<DeviceBuffer<float>> scales_;
};

// Adds the time of an op category to OpTimes, synchronising around it (only when
// times are wanted: otherwise the ops queue without host waits), inside an NVTX range
// named for the category.
class Timer {
 public:
  explicit Timer(OpTimes* t) : t_(t) {}
  template <class F>
  void operator()(double OpTimes::*slot, F&& f) {
    DSA_TRACE_RANGE(slot == &OpTimes::matmul      ? "matmul"
                    : slot == &OpTimes::indexer   ? "indexer"
                    : slot == &OpTimes::topk      ? "topk"
                    : slot == &OpTimes::attention ? "attention"
                                                  : "other");  // one NVTX range per op
    if (!t_) {
      f();
      return;
    }
    DSA_CUDA_CHECK(cudaStreamSynchronize(kStream));
    const auto t0 = std::chrono::steady_clock::now();
    f();
    DSA_CUDA_CHECK(cudaStreamSynchronize(kStream));
    t_->*slot += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  OpTimes* t_;
};

// Top-k launchers with the layer's scratch at hand: the split and filter kernels take
// their workspace from it, the others ignore it.
using TopkLaunchFn = void (*)(const cuda::TopkLaunch&, Arena&, int sm_count, cudaStream_t);

template <void (*kLaunch)(const cuda::TopkLaunch&, cudaStream_t)>
void topk_plain(const cuda::TopkLaunch& p, Arena&, int, cudaStream_t s) {
  kLaunch(p, s);
}

void topk_split(const cuda::TopkLaunch& p, Arena& arena, int sm_count, cudaStream_t s) {
  cuda::TopkSplitLaunch sp;
  static_cast<cuda::TopkLaunch&>(sp) = p;
  sp.blocks = cuda::topk_split_blocks(p.rows, p.cols, sm_count);
  sp.hist = arena.get<unsigned int>(static_cast<std::int64_t>(cuda::topk_split_hist_words(p.rows)));
  sp.counts = arena.get<unsigned long long>(p.rows * sp.blocks);
  cuda::launch_topk_split(sp, s);
}

template <void (*kLaunch)(const cuda::TopkFilterLaunch&, cudaStream_t)>
void topk_filter(const cuda::TopkLaunch& p, Arena& arena, int, cudaStream_t s) {
  cuda::TopkFilterLaunch fp;
  static_cast<cuda::TopkLaunch&>(fp) = p;
  fp.workspace = arena.get<unsigned char>(static_cast<std::int64_t>(cuda::topk_filter_workspace_bytes(p.rows)));
  kLaunch(fp, s);
}

// The kernels one model runs, resolved from the case's names once, with the shapes
// checked before anything is uploaded.
struct Kernels {
  using IndexerFn = void (*)(const cuda::IndexerLaunch&, cudaStream_t);
  using TopkFn = TopkLaunchFn;
  using MqaFn = void (*)(const cuda::MqaLaunch&, cudaStream_t);
  using MhaFn = void (*)(const cuda::MhaLaunch&, cudaStream_t);
  IndexerFn indexer = nullptr;
  TopkFn topk = nullptr;
  bool topk_split_for_few_rows = false;  // no top-k named: the split kernel where it wins (topk_split_first_for)
  MqaFn sparse = nullptr, dense_mqa = nullptr;
  MhaFn dense_mha = nullptr;
  std::string chosen;  // every stage's kernel by name, for the records
};

// One kernel the model can run for a stage: its registry name, its launcher and why it
// cannot take this model's shapes (nullopt: it can), asked only when it is considered.
template <class Fn>
struct KernelOption {
  const char* name;
  Fn fn;
  std::function<std::optional<std::string>()> unsupported;
};

// Every CUDA kernel of the registry for each stage the forward runs (a test checks that
// none is missing, so a kernel promoted in kernels/cuda/variants.cpp reaches the model).
struct KernelOptions {
  std::vector<KernelOption<Kernels::IndexerFn>> indexer;
  std::vector<KernelOption<Kernels::TopkFn>> topk;
  std::vector<KernelOption<Kernels::MqaFn>> sparse, dense_mqa;
  std::vector<KernelOption<Kernels::MhaFn>> dense_mha;
};

KernelOptions kernel_options(const ModelConfig& c, bool fp8_cache) {
  const int hi = c.index_heads, di = c.index_head_dim, h = c.heads, dl = c.kv_lora_rank + c.qk_rope;
  const int dv = c.kv_lora_rank, k = c.index_topk, dqk = c.qk_head_dim(), dvh = c.v_head;
  KernelOptions o;
  // The model's indexer keys are FP8 (dsa-spec.md section 3); decode rows are 1 key long
  // at least, which is all the shape checks need.
  o.indexer = {
      {"cuda.indexer.wgmma", cuda::launch_indexer_wgmma, [=] { return cuda::indexer_wgmma_unsupported(hi, di, 1, true, 1); }},
      {"cuda.indexer.mma", cuda::launch_indexer, [=] { return cuda::indexer_unsupported(hi, di, 1, true); }},
      {"cuda.indexer.keyrows", cuda::launch_indexer_keyrows,
       [=] { return cuda::indexer_keyrows_unsupported(hi, di, 1, true, 1); }}};
  const auto any_shape = [] { return std::optional<std::string>{}; };
  o.topk = {{"cuda.topk.sample", topk_plain<cuda::launch_topk_sample>, any_shape},
            {"cuda.topk.radix", topk_plain<cuda::launch_topk>, any_shape},
            {"cuda.topk.split", topk_split, any_shape},
            {"cuda.topk.sample256", topk_plain<cuda::launch_topk_sample256>, any_shape},
            {"cuda.topk.sample_atomics", topk_plain<cuda::launch_topk_sample_atomics>, any_shape},
            {"cuda.topk.sample_atomics_prefetch", topk_plain<cuda::launch_topk_sample_atomics_prefetch>, any_shape},
            {"cuda.topk.sample_prefetch", topk_plain<cuda::launch_topk_sample_prefetch>, any_shape},
            // Rows beyond its limit (2^20 columns) are refused by the launcher, with the reason.
            {"cuda.topk.filter", topk_filter<cuda::launch_topk_filter>, any_shape},
            {"cuda.topk.filter_fused", topk_filter<cuda::launch_topk_filter_fused>, any_shape}};
  o.sparse = {
      {"cuda.sparse_mqa.wgmma", cuda::launch_mqa_wgmma, [=] { return cuda::mqa_wgmma_unsupported(h, dl, dv, k, true); }},
      {"cuda.sparse_mqa.mma", cuda::launch_mqa, [=] { return cuda::mqa_unsupported(h, dl, dv, k, true, fp8_cache); }},
      {"cuda.sparse_mqa.seesaw", cuda::launch_mqa_seesaw,
       [=] { return cuda::mqa_seesaw_unsupported(h, dl, dv, k, true, fp8_cache); }},
      {"cuda.sparse_mqa.wgmma_fp8reg", cuda::launch_mqa_wgmma_fp8regs,
       [=] { return cuda::mqa_wgmma_fp8regs_unsupported(h, dl, dv, k, true, fp8_cache); }}};
  o.dense_mqa = {
      {"cuda.dense_mqa.wgmma", cuda::launch_mqa_wgmma, [=] { return cuda::mqa_wgmma_unsupported(h, dl, dv, 0, false); }},
      {"cuda.dense_mqa.mma", cuda::launch_mqa, [=] { return cuda::mqa_unsupported(h, dl, dv, 0, false, fp8_cache); }},
      {"cuda.dense_mqa.seesaw", cuda::launch_mqa_seesaw,
       [=] { return cuda::mqa_seesaw_unsupported(h, dl, dv, 0, false, fp8_cache); }},
      {"cuda.dense_mqa.wgmma_tma", cuda::launch_mqa_wgmma_tma,
       [=] { return cuda::mqa_wgmma_tma_unsupported(h, dl, dv, false, fp8_cache); }},
      {"cuda.dense_mqa.seesaw_tma", cuda::launch_mqa_seesaw_tma,
       [=] { return cuda::mqa_seesaw_unsupported(h, dl, dv, 0, false, fp8_cache); }},
      {"cuda.dense_mqa.wgmma_fp8reg", cuda::launch_mqa_wgmma_fp8regs,
       [=] { return cuda::mqa_wgmma_fp8regs_unsupported(h, dl, dv, 0, false, fp8_cache); }}};
  o.dense_mha = {
      {"cuda.dense_mha.wgmma", cuda::launch_mha_wgmma, [=] { return cuda::mha_wgmma_unsupported(h, dqk, dvh); }},
      {"cuda.dense_mha.flash", cuda::launch_mha, [=] { return cuda::mha_unsupported(h, dqk, dvh); }},
      {"cuda.dense_mha.overlap", cuda::launch_mha_overlap, [=] { return cuda::mha_wgmma_unsupported(h, dqk, dvh); }}};
  return o;
}

// The launcher named `name` among `options`; for "" the first that takes the shape in
// the registry's order (`registry`: the op's CUDA variants, fastest first, from
// kernels/cuda/variants.cpp, so the order lives in one place). A named kernel that
// cannot take the shape is refused with the reason.
template <class Fn, class Variants>
Fn pick_kernel(const char* stage, const std::string& name, std::vector<KernelOption<Fn>> options,
               const Variants& registry, std::string& chosen) {
  const auto rank = [&](const char* n) {
    std::size_t i = 0;
    while (i < registry.size() && registry[i].name != n) ++i;
    return i;
  };
  std::stable_sort(options.begin(), options.end(),
                   [&](const KernelOption<Fn>& a, const KernelOption<Fn>& b) { return rank(a.name) < rank(b.name); });
  const auto take = [&](const KernelOption<Fn>& o) {
    chosen += (chosen.empty() ? "" : ", ") + std::string(stage) + "=" + o.name;
    return o.fn;
  };
  std::string all, why;
  for (const auto& o : options) {
    const std::optional<std::string> no = o.unsupported();
    if (name.empty() && !no) return take(o);
    if (name == o.name) {
      if (no) throw std::runtime_error(std::string(o.name) + ": " + *no);
      return take(o);
    }
    all += (all.empty() ? "" : ", ") + std::string(o.name);
    if (no) why += std::string("; ") + o.name + ": " + *no;
  }
  if (name.empty()) throw std::runtime_error(std::string("no GPU ") + stage + " kernel takes this model" + why);
  throw std::runtime_error(std::string("the GPU forward's ") + stage + " kernel: \"" + name + "\" is not one of " + all);
}

Kernels resolve_kernels(const CudaKernelChoice& k, const ModelConfig& c, bool fp8_cache) {
  Kernels r;
  KernelOptions o = kernel_options(c, fp8_cache);
  r.indexer = pick_kernel("indexer", k.indexer, std::move(o.indexer), cuda_indexer_variants(), r.chosen);
  r.topk = pick_kernel("topk", k.topk, std::move(o.topk), cuda_topk_variants(), r.chosen);
  if (k.topk.empty()) {  // as the registry picks: the split kernel for a few long rows
    r.topk_split_for_few_rows = true;
    r.chosen += " (cuda.topk.split for a few long rows)";
  }
  r.sparse = pick_kernel("sparse_attention", k.sparse_attention, std::move(o.sparse), cuda_sparse_mqa_variants(), r.chosen);
  r.dense_mqa =
      pick_kernel("dense_attention_mqa", k.dense_attention_mqa, std::move(o.dense_mqa), cuda_dense_mqa_variants(), r.chosen);
  r.dense_mha =
      pick_kernel("dense_attention_mha", k.dense_attention_mha, std::move(o.dense_mha), cuda_dense_mha_variants(), r.chosen);
  return r;
}

template <class Fn>
std::vector<std::string> names_of(const std::vector<KernelOption<Fn>>& options) {
  std::vector<std::string> out;
  for (const auto& o : options) out.emplace_back(o.name);
  return out;
}

class CudaModel final : public Model {
 public:
  CudaModel(const ModelWeights& w, DType cache_dtype, const CudaKernelChoice& kernels);
  ~CudaModel() override {
    if (blas_) cublasDestroy(blas_);
  }
  const ModelConfig& config() const override { return cfg_; }
  DType cache_dtype() const override { return cache_dtype_; }
  bool has_head() const override { return range_.with_head; }
  int loaded_layers() const override { return static_cast<int>(layers_.size()); }
  std::string implementation() const override {
    return "model.cuda.bf16 (" + kernels_.chosen + ")";
  }
  std::unique_ptr<ModelCache> make_cache() const override {
    return std::make_unique<GpuCache>(loaded_layers(), latent_row_bytes(), cfg_.index_head_dim);
  }
  HostTensor<float> run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                               OpTimes* times) const override;
  HostTensor<float> run_hidden(const HostTensor<float>& hidden, ModelCache& cache, AttentionMode mode,
                               OpTimes* times) const override;
  // A batch in one pass: projections, the output product and the FFN on the rows of all
  // sequences together; indexer, top-k and attention per sequence on its own cache.
  HostTensor<float> run_tokens_last(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                    OpTimes* times) const override {
    return forward_tokens({tokens}, {&cache}, mode, times, true);
  }
  HostTensor<float> run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                     const std::vector<ModelCache*>& caches, AttentionMode mode,
                                     OpTimes* times) const override;
  HostTensor<float> run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                     const std::vector<ModelCache*>& caches, AttentionMode mode,
                                     OpTimes* times) const override;
  void release_scratch() const override {
    DSA_CUDA_CHECK(cudaStreamSynchronize(kStream));  // nothing in flight still uses it
    arena_.release();
    resid_ = DeviceBuffer<float>();
    ids_ = DeviceBuffer<std::int32_t>();
  }

 private:
  std::size_t latent_row_bytes() const {
    return cache_dtype_ == DType::fp8_e4m3 ? fp8_mla_row_bytes(cfg_.kv_lora_rank, cfg_.qk_rope)
                                           : 2u * static_cast<std::size_t>(cfg_.kv_lora_rank + cfg_.qk_rope);
  }
  // y [n, W.rows] = x [n, W.cols] W^T, x in bf16 with row stride ldx; y in fp32, or in
  // bf16 (y_type CUDA_R_16BF) where the next consumer takes bf16 anyway.
  void gemm(const DevMatrix& W, const std::uint16_t* x, std::int64_t ldx, std::int64_t n, void* y,
            cudaDataType_t y_type = CUDA_R_32F) const;
  // The same from fp32 activations (converted to bf16 first; fp32 matrices use fp32).
  float* linear(const float* x, std::int64_t n, const DevMatrix& W) const;
  float* swiglu_ffn(const float* x, std::int64_t n, const DevMatrix& gate, const DevMatrix& up, const DevMatrix& down,
                    Timer& time) const;
  // Rows [first, first + count) of a layer's input belong to `cache`'s sequence.
  struct SeqRows {
    GpuCache* cache;
    std::int64_t first, count;
  };
  void run_layers(float* x, const std::vector<SeqRows>& seqs, AttentionMode mode, OpTimes* times) const;
  // Embedding, layers, final norm and head; `last_only`: the head runs on each
  // sequence's last position alone (what a server computes for a prefill chunk).
  HostTensor<float> forward_tokens(const std::vector<std::span<const std::int32_t>>& tokens,
                                   const std::vector<ModelCache*>& caches, AttentionMode mode, OpTimes* times,
                                   bool last_only) const;
  void layer(int li, float* x, const std::vector<SeqRows>& seqs, AttentionMode mode, Timer& time) const;
  std::vector<SeqRows> batch_rows(const std::vector<ModelCache*>& caches, std::int64_t per_seq) const;
  GpuCache& gpu_cache(ModelCache& c) const;

  ModelConfig cfg_;
  LayerRange range_;
  DType cache_dtype_;
  DeviceBuffer<float> embed_;  // [vocab, hidden], gathered on the device
  // The residual stream and the token ids of a forward, kept across calls (grown when
  // a call needs more) so a chunked prefill allocates nothing per chunk.
  mutable DeviceBuffer<float> resid_;
  mutable DeviceBuffer<std::int32_t> ids_;
  template <class T>
  static DeviceBuffer<T>* grown(DeviceBuffer<T>& b, std::size_t n) {
    if (b.size() < n) b = DeviceBuffer<T>(n);
    return &b;
  }
  DevMatrix lm_head_;
  DeviceBuffer<float> final_norm_;
  std::vector<DevLayer> layers_;
  DeviceBuffer<double> rope_freqs_, index_rope_freqs_;
  cublasHandle_t blas_ = nullptr;
  int sm_count_ = cuda_sm_count();  // launch plans (split-KV, split top-k) size their grids by it
  Kernels kernels_;
  mutable Arena arena_;
};

CudaModel::CudaModel(const ModelWeights& w, DType cache_dtype, const CudaKernelChoice& kernels)
    : cfg_(w.config), range_(w.range), cache_dtype_(cache_dtype) {
  std::string why;
  if (cuda_device_count(&why) == 0) throw std::runtime_error(why);
  const ModelConfig& c = cfg_;
  require(cache_dtype == DType::bf16 || cache_dtype == DType::fp8_e4m3, "CudaModel: the latent cache is bf16 or fp8");
  kernels_ = resolve_kernels(kernels, c, cache_dtype == DType::fp8_e4m3);  // names and shapes, before any upload
  if ((c.index_head_dim & (c.index_head_dim - 1)) != 0) throw std::runtime_error("index_head_dim must be a power of two");
  DSA_CUBLAS_CHECK(cublasCreate(&blas_));
  DSA_CUBLAS_CHECK(cublasSetStream(blas_, kStream));

  if (range_.with_head) {
    embed_ = to_device(w.embed.data.data(), w.embed.data.size());
    lm_head_ = upload(w.lm_head);
    final_norm_ = upload(w.final_norm);
  }
  for (const LayerWeights& L : w.layers) {
    DevLayer d;
    d.input_norm = upload(L.input_norm);
    d.post_norm = upload(L.post_attention_norm);
    d.q_a_norm = upload(L.q_a_norm);
    d.kv_a_norm = upload(L.kv_a_norm);
    d.idx_k_norm_w = upload(L.idx_k_norm_weight);
    d.idx_k_norm_b = upload(L.idx_k_norm_bias);
    d.q_a = upload(L.q_a);
    d.q_b = upload(L.q_b);
    d.kv_a = upload(L.kv_a);
    d.kv_b = upload(L.kv_b);
    d.o = upload(L.o);
    d.idx_wq_b = upload(L.idx_wq_b);
    d.idx_wk = upload(L.idx_wk);
    d.idx_weights = upload(L.idx_weights, true);  // weights_proj stays fp32 (dsa-spec.md section 10)
    d.moe = L.moe;
    if (!L.moe || c.shared_experts > 0) {
      d.gate = upload(L.gate_proj);
      d.up = upload(L.up_proj);
      d.down = upload(L.down_proj);
    }
    if (L.moe) {
      d.router = upload(L.router, true);
      d.router_bias = L.router_bias;
      for (std::size_t e = 0; e < L.expert_gate.size(); ++e) {
        d.expert_gate.push_back(upload(L.expert_gate[e]));
        d.expert_up.push_back(upload(L.expert_up[e]));
        d.expert_down.push_back(upload(L.expert_down[e]));
      }
    }
    layers_.push_back(std::move(d));
  }
  const std::vector<double> f = rope_frequencies(c, c.qk_rope), fi = rope_frequencies(c, c.index_head_dim / 2);
  rope_freqs_ = to_device(f.data(), f.size());
  index_rope_freqs_ = to_device(fi.data(), fi.size());
}

GpuCache& CudaModel::gpu_cache(ModelCache& c) const {
  auto* g = dynamic_cast<GpuCache*>(&c);
  require(g != nullptr, "CudaModel: the cache was made by another model");
  return *g;
}

void CudaModel::gemm(const DevMatrix& W, const std::uint16_t* x, std::int64_t ldx, std::int64_t n, void* y,
                     cudaDataType_t y_type) const {
  const float one = 1.0f, zero = 0.0f;
  // Column-major view: y^T [rows x n] = W [rows x cols] (W^T stored) * x^T [cols x n].
  DSA_CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(W.rows), static_cast<int>(n),
                                static_cast<int>(W.cols), &one, W.bf16.get(), CUDA_R_16BF, static_cast<int>(W.cols), x,
                                CUDA_R_16BF, static_cast<int>(ldx), &zero, y, y_type, static_cast<int>(W.rows),
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

float* CudaModel::linear(const float* x, std::int64_t n, const DevMatrix& W) const {
  float* y = arena_.get<float>(n * W.rows);
  if (W.f32.size() > 0) {
    const float one = 1.0f, zero = 0.0f;
    DSA_CUBLAS_CHECK(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(W.rows), static_cast<int>(n),
                                 static_cast<int>(W.cols), &one, W.f32.get(), static_cast<int>(W.cols), x,
                                 static_cast<int>(W.cols), &zero, y, static_cast<int>(W.rows)));
    return y;
  }
  auto* xb = arena_.get<std::uint16_t>(n * W.cols);
  ops::to_bf16(x, xb, n, static_cast<int>(W.cols), static_cast<int>(W.cols), static_cast<int>(W.cols), kStream);
  gemm(W, xb, W.cols, n, y);
  return y;
}

float* CudaModel::swiglu_ffn(const float* x, std::int64_t n, const DevMatrix& gate, const DevMatrix& up,
                             const DevMatrix& down, Timer& time) const {
  float *g = nullptr, *u = nullptr, *y = nullptr;
  time(&OpTimes::matmul, [&] {
    g = linear(x, n, gate);
    u = linear(x, n, up);
  });
  time(&OpTimes::other, [&] { ops::swiglu(g, u, n * gate.rows, kStream); });
  time(&OpTimes::matmul, [&] { y = linear(g, n, down); });
  return y;
}

void CudaModel::layer(int li, float* x, const std::vector<SeqRows>& seqs, AttentionMode mode, Timer& time) const {
  const ModelConfig& c = cfg_;
  const DevLayer& L = layers_[static_cast<std::size_t>(li)];
  const std::int64_t n = seqs.back().first + seqs.back().count;  // rows of every sequence
  const std::int64_t D = c.hidden, H = c.heads;
  const int nope = c.qk_nope, rope = c.qk_rope, dqk = c.qk_head_dim(), rank = c.kv_lora_rank, dv = c.v_head;
  const int dl = rank + rope, qlr = c.q_lora_rank;
  const auto eps = static_cast<float>(c.rms_eps);
  const auto scale = static_cast<float>(c.softmax_scale());
  const bool fp8 = cache_dtype_ == DType::fp8_e4m3;
  // Every sequence brings the same number of rows, so all take the same attention path.
  const bool mqa_mode = mode == AttentionMode::dsa || seqs.front().count == 1;
  arena_.reset();

  float *h = arena_.get<float>(n * D), *cq = nullptr, *q = nullptr, *kv = nullptr;
  time(&OpTimes::other, [&] { ops::rms_norm(x, h, n, static_cast<int>(D), static_cast<int>(D), static_cast<int>(D), L.input_norm.get(), eps, kStream); });
  time(&OpTimes::matmul, [&] { cq = linear(h, n, L.q_a); });
  time(&OpTimes::other, [&] { ops::rms_norm(cq, cq, n, qlr, qlr, qlr, L.q_a_norm.get(), eps, kStream); });
  time(&OpTimes::matmul, [&] {
    q = linear(cq, n, L.q_b);  // [n, H, nope + rope]
    kv = linear(h, n, L.kv_a);  // [n, rank + rope]
  });
  time(&OpTimes::other, [&] {
    ops::rms_norm(kv, kv, n, rank, dl, dl, L.kv_a_norm.get(), eps, kStream);
    for (const SeqRows& sq : seqs) {  // positions are per sequence
      GpuCache& cache = *sq.cache;
      const std::int64_t p0 = cache.length, f = sq.first, m = sq.count;
      ops::rope(q + f * H * dqk, m, static_cast<int>(H), dqk, nope, rope, p0, rope_freqs_.get(), true, kStream);
      ops::rope(kv + f * dl, m, 1, dl, rank, rope, p0, rope_freqs_.get(), true, kStream);
      // The new rows join the cache as the kernels will read them.
      if (fp8) cuda::launch_pack_fp8_mla(kv + f * dl, m, rank, rope, cache.latent(li) + p0 * latent_row_bytes(), kStream);
      else ops::to_bf16(kv + f * dl, reinterpret_cast<std::uint16_t*>(cache.latent(li)) + p0 * dl, m, dl, dl, dl, kStream);
    }
  });

  // Absorbed queries (bf16 [n, H, rank + rope]) and the way back through W_UV, over all rows.
  const float one = 1.0f, zero = 0.0f;
  const std::int64_t kvb_stride = static_cast<std::int64_t>(nope + dv) * rank;
  const auto absorbed = [&] {
    std::uint16_t* qa = arena_.get<std::uint16_t>(n * H * dl);
    time(&OpTimes::matmul, [&] {
      auto* qb = arena_.get<std::uint16_t>(n * H * dqk);
      ops::to_bf16(q, qb, n * H, dqk, dqk, dqk, kStream);
      float* lq = arena_.get<float>(n * H * rank);
      // Per head h: lq_h^T [rank x n] = W_UK_h^T [rank x nope] * q_nope_h^T [nope x n].
      DSA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_N, CUBLAS_OP_N, rank, static_cast<int>(n), nope, &one, L.kv_b.bf16.get(), CUDA_R_16BF, rank,
          kvb_stride, qb, CUDA_R_16BF, static_cast<int>(H * dqk), dqk, &zero, lq, CUDA_R_32F, static_cast<int>(H * rank),
          rank, static_cast<int>(H), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      ops::assemble_absorbed(lq, q, qa, n, static_cast<int>(H), rank, nope, rope, kStream);
    });
    return qa;
  };
  const auto unabsorb = [&](const std::uint16_t* o) {  // o bf16 [n, H, rank] -> bf16 [n, H * dv]
    std::uint16_t* out = arena_.get<std::uint16_t>(n * H * dv);
    time(&OpTimes::matmul, [&] {
      float* y = arena_.get<float>(n * H * dv);
      // Per head h: y_h^T [dv x n] = W_UV_h [dv x rank] * o_h^T [rank x n].
      DSA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_T, CUBLAS_OP_N, dv, static_cast<int>(n), rank, &one, L.kv_b.bf16.get() + nope * rank,
          CUDA_R_16BF, rank, kvb_stride, o, CUDA_R_16BF, static_cast<int>(H * rank), rank, &zero, y, CUDA_R_32F,
          static_cast<int>(H * dv), dv, static_cast<int>(H), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      ops::to_bf16(y, out, n * H, dv, dv, dv, kStream);
    });
    return out;
  };
  // MQA-mode attention of one sequence's rows [f, f + m) into o rows [f, f + m).
  auto mqa = [&](GpuCache& cache, std::int64_t f, std::int64_t m, const std::uint16_t* qa, const std::int32_t* indices,
                 std::uint16_t* o) {
    cuda::MqaLaunch p;
    p.q = qa + f * H * dl;
    p.kv = cache.latent(li);
    p.indices = indices;
    p.topk = c.index_topk;
    p.out = o + f * H * rank;
    p.lse = arena_.get<float>(m * H);
    p.queries = m;
    p.keys = cache.length + m;
    p.heads = static_cast<int>(H);
    p.d_qk = dl;
    p.d_v = rank;
    p.scale = scale;
    p.query_offset = cache.length;
    p.fp8_cache = fp8;
    p.splits = cuda::mqa_choose_splits(p, sm_count_);
    if (const std::size_t ws = cuda::mqa_workspace_floats(p)) p.workspace = arena_.get<float>(static_cast<std::int64_t>(ws));
    const Kernels::MqaFn launch = indices ? kernels_.sparse : kernels_.dense_mqa;
    time(&OpTimes::attention, [&] { launch(p, kStream); });
  };

  const std::uint16_t* attn = nullptr;  // bf16 [n, H * dv]
  if (mqa_mode) {
    const std::uint16_t* qa = absorbed();
    auto* o = arena_.get<std::uint16_t>(n * H * rank);
    if (mode == AttentionMode::dsa) {
      const int HI = c.index_heads, DI = c.index_head_dim;
      float *qi = nullptr, *ki = nullptr, *wi = nullptr;
      time(&OpTimes::matmul, [&] {
        qi = linear(cq, n, L.idx_wq_b);      // [n, HI, DI]
        ki = linear(h, n, L.idx_wk);         // [n, DI]
        wi = linear(h, n, L.idx_weights);    // [n, HI], fp32
      });
      auto* q_codes = arena_.get<std::uint8_t>(n * HI * DI);
      float* q_scales = arena_.get<float>(n * HI);
      time(&OpTimes::indexer, [&] {
        for (const SeqRows& sq : seqs) {
          const std::int64_t p0 = sq.cache->length;
          ops::rope(qi + sq.first * HI * DI, sq.count, HI, DI, 0, DI / 2, p0, index_rope_freqs_.get(), false, kStream);
          ops::layer_norm(ki + sq.first * DI, sq.count, DI, L.idx_k_norm_w.get(), L.idx_k_norm_b.get(), kStream);
          ops::rope(ki + sq.first * DI, sq.count, 1, DI, 0, DI / 2, p0, index_rope_freqs_.get(), false, kStream);
          ops::hadamard_fp8(ki + sq.first * DI, sq.count, DI, sq.cache->codes(li) + p0 * DI, sq.cache->scales(li) + p0,
                            kStream);
        }
        ops::scale(wi, static_cast<float>(1.0 / std::sqrt(static_cast<double>(HI))) *
                           static_cast<float>(1.0 / std::sqrt(static_cast<double>(DI))),
                   n * HI, kStream);
        ops::hadamard_fp8(qi, n * HI, DI, q_codes, q_scales, kStream);
      });
      for (const SeqRows& sq : seqs) {
        GpuCache& cache = *sq.cache;
        const std::int64_t f = sq.first, m = sq.count, p0 = cache.length, end = p0 + m;
        float* scores = arena_.get<float>(m * end);
        auto* ends = arena_.get<std::int64_t>(m);
        auto* indices = arena_.get<std::int32_t>(m * c.index_topk);
        time(&OpTimes::indexer, [&] {
          cuda::IndexerLaunch ip;
          ip.q = q_codes + f * HI * DI;
          ip.q_scale = q_scales + f * HI;
          ip.k = cache.codes(li);
          ip.k_scale = cache.scales(li);
          ip.w = wi + f * HI;
          ip.scores = scores;
          ip.queries = m;
          ip.keys = end;
          ip.heads = HI;
          ip.head_dim = DI;
          ip.query_offset = p0;
          ip.causal = true;
          ip.fp8 = true;
          kernels_.indexer(ip, kStream);
        });
        time(&OpTimes::topk, [&] {
          ops::causal_ends(ends, m, p0, end, kStream);
          const cuda::TopkLaunch tp{scores, ends, indices, m, end, c.index_topk};
          const Kernels::TopkFn launch =
              kernels_.topk_split_for_few_rows && cuda::topk_split_first_for(m, end) ? topk_split : kernels_.topk;
          launch(tp, arena_, sm_count_, kStream);
        });
        mqa(cache, f, m, qa, indices, o);
      }
    } else {
      for (const SeqRows& sq : seqs) mqa(*sq.cache, sq.first, sq.count, qa, nullptr, o);  // dense decode
    }
    attn = unabsorb(o);
  } else {
    // Dense prefill: MHA mode, per-head K and V expanded from each sequence's latent cache.
    auto* out_rows = arena_.get<std::uint16_t>(n * H * dv);
    auto* qb = arena_.get<std::uint16_t>(n * H * dqk);
    time(&OpTimes::other, [&] { ops::to_bf16(q, qb, n * H, dqk, dqk, dqk, kStream); });
    for (const SeqRows& sq : seqs) {
      GpuCache& cache = *sq.cache;
      const std::int64_t f = sq.first, m = sq.count, p0 = cache.length, end = p0 + m;
      const std::uint16_t* latent = reinterpret_cast<const std::uint16_t*>(cache.latent(li));
      if (fp8) {
        auto* unpacked = arena_.get<std::uint16_t>(end * dl);
        time(&OpTimes::other, [&] { ops::unpack_fp8_latent(cache.latent(li), end, rank, rope, unpacked, kStream); });
        latent = unpacked;
      }
      // [end, H * (nope + dv)] in bf16: the MHA kernel reads bf16 K/V, so the product is
      // rounded once, and at 128K this is 8.6 GB instead of 17.
      auto* kvb = arena_.get<std::uint16_t>(end * H * (nope + dv));
      time(&OpTimes::matmul, [&] { gemm(L.kv_b, latent, dl, end, kvb, CUDA_R_16BF); });
      auto* k = arena_.get<std::uint16_t>(end * H * dqk);
      auto* v = arena_.get<std::uint16_t>(end * H * dv);
      time(&OpTimes::other, [&] { ops::expand_kv(kvb, latent, k, v, end, static_cast<int>(H), nope, rope, dv, rank, kStream); });
      cuda::MhaLaunch mp;
      mp.q = qb + f * H * dqk;
      mp.k = k;
      mp.v = v;
      mp.out = out_rows + f * H * dv;
      mp.lse = arena_.get<float>(m * H);
      mp.queries = m;
      mp.keys = end;
      mp.heads = static_cast<int>(H);
      mp.d_qk = dqk;
      mp.d_v = dv;
      mp.scale = scale;
      mp.query_offset = p0;
      time(&OpTimes::attention, [&] { kernels_.dense_mha(mp, kStream); });
    }
    attn = out_rows;
  }
  float* out = arena_.get<float>(n * D);
  time(&OpTimes::matmul, [&] { gemm(L.o, attn, H * dv, n, out); });
  time(&OpTimes::other, [&] { ops::add(x, out, n * D, kStream); });

  // --- FFN ----------------------------------------------------------------------------
  float* h2 = arena_.get<float>(n * D);
  time(&OpTimes::other, [&] { ops::rms_norm(x, h2, n, static_cast<int>(D), static_cast<int>(D), static_cast<int>(D), L.post_norm.get(), eps, kStream); });
  if (!L.moe) {
    float* y = swiglu_ffn(h2, n, L.gate, L.up, L.down, time);
    time(&OpTimes::other, [&] { ops::add(x, y, n * D, kStream); });
    return;
  }
  if (c.shared_experts > 0) {
    float* y = swiglu_ffn(h2, n, L.gate, L.up, L.down, time);
    time(&OpTimes::other, [&] { ops::add(x, y, n * D, kStream); });
  }
  float* logits = nullptr;
  time(&OpTimes::matmul, [&] { logits = linear(h2, n, L.router); });
  std::vector<std::vector<std::pair<std::int64_t, double>>> routed;
  time(&OpTimes::other, [&] {
    std::vector<float> host(static_cast<std::size_t>(n * c.routed_experts));
    DSA_CUDA_CHECK(cudaMemcpy(host.data(), logits, host.size() * sizeof(float), cudaMemcpyDeviceToHost));
    routed = route_tokens(c, host.data(), n, L.router_bias);
  });
  // Every expert's tokens and gate weights in one upload (the real model has 256
  // experts: two synchronous copies each would stall the GPU 512 times a layer).
  std::int64_t routed_rows = 0;
  for (const auto& toks : routed) routed_rows += static_cast<std::int64_t>(toks.size());
  auto* index = arena_.get<std::int32_t>(2 * routed_rows);  // token ids, then the weights' bits
  time(&OpTimes::other, [&] {
    std::vector<std::int32_t> host(static_cast<std::size_t>(2 * routed_rows));
    std::size_t at = 0;
    for (const auto& toks : routed)
      for (const auto& [token, weight] : toks) {
        host[at] = static_cast<std::int32_t>(token);
        const auto w = static_cast<float>(weight);
        std::memcpy(&host[static_cast<std::size_t>(routed_rows) + at], &w, sizeof w);
        ++at;
      }
    DSA_CUDA_CHECK(cudaMemcpyAsync(index, host.data(), host.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice, kStream));
    DSA_CUDA_CHECK(cudaStreamSynchronize(kStream));  // `host` goes out of scope
  });
  const float* weights = reinterpret_cast<const float*>(index + routed_rows);
  std::int64_t first = 0;
  for (int e = 0; e < c.routed_experts; ++e) {
    const auto m = static_cast<std::int64_t>(routed[static_cast<std::size_t>(e)].size());
    if (m == 0) continue;
    float* rows = arena_.get<float>(m * D);
    time(&OpTimes::other, [&] { ops::gather_rows(h2, index + first, m, static_cast<int>(D), rows, kStream); });
    float* y = swiglu_ffn(rows, m, L.expert_gate[e], L.expert_up[e], L.expert_down[e], time);
    time(&OpTimes::other, [&] { ops::scatter_add_rows(x, index + first, weights + first, y, m, static_cast<int>(D), kStream); });
    first += m;
  }
}

void CudaModel::run_layers(float* x, const std::vector<SeqRows>& seqs, AttentionMode mode, OpTimes* times) const {
  for (const SeqRows& sq : seqs) {
    const GpuCache& cache = *sq.cache;
    require(sq.count > 0, "forward: no tokens");
    require(sq.count == seqs.front().count, "forward: the sequences of a batch bring the same number of positions");
    require(cache.length == 0 || cache.has_index() == (mode == AttentionMode::dsa),
            std::string("forward: this cache was filled in ") + (cache.has_index() ? "dsa" : "dense") + " mode");
  }
  for (const SeqRows& sq : seqs) sq.cache->reserve(sq.cache->length + sq.count, mode == AttentionMode::dsa);
  Timer time(times);
  for (int li = 0; li < loaded_layers(); ++li) {
    DSA_TRACE_RANGE("layer");
    layer(li, x, seqs, mode, time);
  }
  for (const SeqRows& sq : seqs) sq.cache->length += sq.count;
}

std::vector<CudaModel::SeqRows> CudaModel::batch_rows(const std::vector<ModelCache*>& caches, std::int64_t per_seq) const {
  std::vector<SeqRows> seqs;
  for (std::size_t b = 0; b < caches.size(); ++b)
    seqs.push_back({&gpu_cache(*caches[b]), static_cast<std::int64_t>(b) * per_seq, per_seq});
  return seqs;
}

HostTensor<float> CudaModel::run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                        OpTimes* times) const {
  return run_tokens_batch({tokens}, {&cache}, mode, times);
}

HostTensor<float> CudaModel::run_hidden(const HostTensor<float>& hidden, ModelCache& cache, AttentionMode mode,
                                        OpTimes* times) const {
  return run_hidden_batch({&hidden}, {&cache}, mode, times);
}

HostTensor<float> CudaModel::run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                              const std::vector<ModelCache*>& caches, AttentionMode mode,
                                              OpTimes* times) const {
  return forward_tokens(tokens, caches, mode, times, false);
}

HostTensor<float> CudaModel::forward_tokens(const std::vector<std::span<const std::int32_t>>& tokens,
                                            const std::vector<ModelCache*>& caches, AttentionMode mode, OpTimes* times,
                                            bool last_only) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "forward.dense" : "forward.dsa");
  require(has_head(), "forward: this model holds a layer range only; run it on hidden states");
  require(!tokens.empty() && tokens.size() == caches.size(), "forward: one cache per sequence");
  const ModelConfig& c = cfg_;
  const auto per_seq = static_cast<std::int64_t>(tokens.front().size());
  const std::int64_t n = per_seq * static_cast<std::int64_t>(tokens.size());
  // The ids go up (checked as the CPU forward checks them); the embedding rows are
  // gathered on the device: the host gather and a [n, hidden] upload per chunk left
  // the GPU idle for milliseconds per prefill chunk.
  const std::vector<std::int32_t> ids = batch_token_ids(c, tokens);
  grown(ids_, ids.size())->upload(ids.data(), ids.size());
  // The residual stream lives outside the per-layer arena.
  float* dx = grown(resid_, static_cast<std::size_t>(n * c.hidden))->get();
  Timer time(times);
  time(&OpTimes::other, [&] { ops::gather_rows(embed_.get(), ids_.get(), n, c.hidden, dx, kStream); });
  run_layers(dx, batch_rows(caches, per_seq), mode, times);
  arena_.reset();
  // The head's rows: all, or the last of each sequence (rows per_seq apart; the norm
  // reads them in place through its row stride).
  const std::int64_t rows = last_only ? static_cast<std::int64_t>(tokens.size()) : n;
  const float* src = last_only ? dx + (per_seq - 1) * c.hidden : dx;
  const std::int64_t stride = last_only ? per_seq * c.hidden : c.hidden;
  float* hf = arena_.get<float>(rows * c.hidden);
  float* logits = nullptr;
  time(&OpTimes::other, [&] { ops::rms_norm(src, hf, rows, c.hidden, static_cast<int>(stride), c.hidden, final_norm_.get(), static_cast<float>(c.rms_eps), kStream); });
  time(&OpTimes::matmul, [&] { logits = linear(hf, rows, lm_head_); });
  HostTensor<float> out({rows, c.vocab});
  DSA_CUDA_CHECK(cudaMemcpy(out.data(), logits, out.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

HostTensor<float> CudaModel::run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                              const std::vector<ModelCache*>& caches, AttentionMode mode,
                                              OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "layers.dense" : "layers.dsa");
  require(!hidden.empty() && hidden.size() == caches.size(), "forward_hidden: one cache per sequence");
  const std::int64_t per_seq = hidden.front()->shape().rank == 2 ? hidden.front()->size(0) : 0;
  std::vector<float> x;
  for (const HostTensor<float>* hs : hidden) {
    require(hs->shape().rank == 2 && hs->size(1) == cfg_.hidden,
            "forward_hidden: hidden states must be [n, " + std::to_string(cfg_.hidden) + "]");
    require(hs->size(0) == per_seq, "forward_hidden: the sequences of a batch bring the same number of rows");
    x.insert(x.end(), hs->span().begin(), hs->span().end());
  }
  float* dx = grown(resid_, x.size())->get();
  DSA_CUDA_CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  run_layers(dx, batch_rows(caches, per_seq), mode, times);
  HostTensor<float> out({per_seq * static_cast<std::int64_t>(hidden.size()), cfg_.hidden});
  DSA_CUDA_CHECK(cudaMemcpy(out.data(), dx, out.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

}  // namespace

std::unique_ptr<Model> make_cuda_model(const ModelWeights& w, DType cache_dtype, const CudaKernelChoice& kernels) {
  return std::make_unique<CudaModel>(w, cache_dtype, kernels);
}

std::vector<std::string> cuda_model_kernel_names(const std::string& stage) {
  const KernelOptions o = kernel_options(ModelConfig{}, false);  // names only: no shape is asked
  if (stage == "indexer") return names_of(o.indexer);
  if (stage == "topk") return names_of(o.topk);
  if (stage == "sparse_attention") return names_of(o.sparse);
  if (stage == "dense_attention_mqa") return names_of(o.dense_mqa);
  if (stage == "dense_attention_mha") return names_of(o.dense_mha);
  throw std::invalid_argument("cuda_model_kernel_names: no stage \"" + stage + "\"");
}

}  // namespace dsa::model
