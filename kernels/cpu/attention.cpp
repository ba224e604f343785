// fp32 attention with online softmax, the algorithm of flash attention and FlashMLA:
// keys are visited in blocks; each (query, head) keeps a running max m, a running sum
// l of exp(logit - m) and an unnormalised output accumulator, rescaled when m grows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/cpu/cpu_ops.h"

namespace dsa::cpu {

namespace {

// 64 keys per block: a transposed 576 x 64 fp32 block (147 KiB) fits in L2 and is
// shared by a group of heads, so the transpose costs a few percent of the math.
constexpr int kKeyBlock = 64;
// Heads per task in MQA mode (they share the key block). Eight heads put the
// transpose at about 7% of the multiply-adds at 576/512 while leaving 16 tasks per
// decode query at 128 heads for the threads.
constexpr int kHeadGroup = 8;
// Queries per task in dense mode (they share the key block of a head).
constexpr int kQueryBlock = 16;

struct RowState {
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
};

// kt[d][j] = key_j[d] for the block's nb keys.
void transpose_block(const float* const* rows, int nb, int d_qk, float* kt) {
  for (int j = 0; j < nb; ++j)
    for (int d = 0; d < d_qk; ++d) kt[static_cast<std::size_t>(d) * kKeyBlock + j] = rows[j][d];
}

// One (query, head) over one key block: logits, then the online-softmax update of
// state and acc (d_v values) with the value rows vrows[0..nb).
void attend_block(const float* q, const float* kt, int nb, int d_qk, int d_v, float scale,
                  const float* const* vrows, RowState& st, float* acc) {
  float logit[kKeyBlock] = {};
  for (int d = 0; d < d_qk; ++d) {
    const float qd = q[d];
    const float* row = kt + static_cast<std::size_t>(d) * kKeyBlock;
    for (int j = 0; j < nb; ++j) logit[j] += qd * row[j];
  }
  float bmax = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < nb; ++j) { logit[j] *= scale; bmax = std::max(bmax, logit[j]); }
  const float m_new = std::max(st.m, bmax);
  const float corr = std::exp(st.m - m_new);  // 0 on the first block (m = -inf)
  if (corr != 1.0f) {
    for (int d = 0; d < d_v; ++d) acc[d] *= corr;
  }
  float sum = 0.0f;
  for (int j = 0; j < nb; ++j) {
    const float p = std::exp(logit[j] - m_new);
    sum += p;
    const float* v = vrows[j];
    for (int d = 0; d < d_v; ++d) acc[d] += p * v[d];
  }
  st.l = st.l * corr + sum;
  st.m = m_new;
}

void finish_row(const RowState& st, const float* acc, int d_v, DType out_dtype, float* out, float* lse) {
  if (st.l == 0.0f) {  // no key: the project's convention
    std::fill(out, out + d_v, 0.0f);
    *lse = -std::numeric_limits<float>::infinity();
    return;
  }
  const float inv = 1.0f / st.l;
  for (int d = 0; d < d_v; ++d) out[d] = acc[d] * inv;
  if (out_dtype == DType::bf16) round_in_place({out, static_cast<std::size_t>(d_v)}, DType::bf16);
  *lse = st.m + std::log(st.l);
}

void check_out(const AttentionShape& sh, const HostTensor<float>& out, const HostTensor<float>& lse, DType out_dtype) {
  require(sh.scale > 0, "cpu attention: softmax scale must be > 0");
  require(out.shape() == Shape({sh.queries, sh.heads, sh.d_v}), "cpu attention: out shape " + out.shape().str());
  require(lse.shape() == Shape({sh.queries, sh.heads}), "cpu attention: lse shape " + lse.shape().str());
  require(out_dtype == DType::f32 || out_dtype == DType::bf16, "cpu attention: output dtype must be fp32 or bf16");
}

void check_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv) {
  require(sh.d_v <= sh.d_qk, "cpu attention: MQA mode needs d_v <= d_qk");
  require(q.shape() == Shape({sh.queries, sh.heads, sh.d_qk}), "cpu attention: q shape " + q.shape().str());
  require(kv.shape() == Shape({sh.keys, sh.d_qk}), "cpu attention: kv shape " + kv.shape().str());
}

// MQA mode for one query over an explicit list of key rows (sparse: the gathered
// indices; dense: the causal prefix), heads [h0, h1).
void mqa_query_heads(const AttentionShape& sh, const float* const* rows, std::int64_t nrows, const HostTensor<float>& q,
                     std::int64_t t, int h0, int h1, HostTensor<float>& out, HostTensor<float>& lse, DType out_dtype) {
  const int G = h1 - h0;
  std::vector<float> kt(static_cast<std::size_t>(sh.d_qk) * kKeyBlock);
  std::vector<float> acc(static_cast<std::size_t>(G) * sh.d_v, 0.0f);
  std::vector<RowState> st(static_cast<std::size_t>(G));
  const auto scale = static_cast<float>(sh.scale);
  for (std::int64_t j0 = 0; j0 < nrows; j0 += kKeyBlock) {
    const int nb = static_cast<int>(std::min<std::int64_t>(kKeyBlock, nrows - j0));
    transpose_block(rows + j0, nb, sh.d_qk, kt.data());
    for (int g = 0; g < G; ++g)
      attend_block(&q(t, h0 + g, 0), kt.data(), nb, sh.d_qk, sh.d_v, scale, rows + j0, st[g],
                   &acc[static_cast<std::size_t>(g) * sh.d_v]);
  }
  for (int g = 0; g < G; ++g)
    finish_row(st[g], &acc[static_cast<std::size_t>(g) * sh.d_v], sh.d_v, out_dtype, &out(t, h0 + g, 0), &lse(t, h0 + g));
}

}  // namespace

void sparse_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                const HostTensor<std::int32_t>& indices, HostTensor<float>& out, HostTensor<float>& lse,
                DType out_dtype) {
  check_mqa(sh, q, kv);
  check_out(sh, out, lse, out_dtype);
  require(indices.shape().rank == 2 && indices.size(0) == sh.queries, "cpu sparse_mqa: indices must be [T, K]");
  const std::int64_t K = indices.size(1);
  const int groups = (sh.heads + kHeadGroup - 1) / kHeadGroup;
  parallel_for(sh.queries * groups, [&](std::int64_t task) {
    const std::int64_t t = task / groups;
    const int h0 = static_cast<int>(task % groups) * kHeadGroup, h1 = std::min(sh.heads, h0 + kHeadGroup);
    std::vector<const float*> rows;
    rows.reserve(static_cast<std::size_t>(K));
    for (std::int64_t j = 0; j < K; ++j) {
      const std::int32_t s = indices(t, j);
      if (s >= 0 && s < sh.keys) rows.push_back(&kv(s, 0));  // invalid slots are skipped
    }
    mqa_query_heads(sh, rows.data(), static_cast<std::int64_t>(rows.size()), q, t, h0, h1, out, lse, out_dtype);
  });
}

void dense_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
               HostTensor<float>& out, HostTensor<float>& lse, DType out_dtype) {
  check_mqa(sh, q, kv);
  check_out(sh, out, lse, out_dtype);
  std::vector<const float*> all_rows(static_cast<std::size_t>(sh.keys));
  for (std::int64_t s = 0; s < sh.keys; ++s) all_rows[s] = &kv(s, 0);
  const int groups = (sh.heads + kHeadGroup - 1) / kHeadGroup;
  parallel_for(sh.queries * groups, [&](std::int64_t task) {
    const std::int64_t t = task / groups;
    const int h0 = static_cast<int>(task % groups) * kHeadGroup, h1 = std::min(sh.heads, h0 + kHeadGroup);
    mqa_query_heads(sh, all_rows.data(), key_end(t, sh.query_offset, sh.keys, true), q, t, h0, h1, out, lse, out_dtype);
  });
}

void dense_mha(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
               const HostTensor<float>& v, HostTensor<float>& out, HostTensor<float>& lse, DType out_dtype) {
  check_out(sh, out, lse, out_dtype);
  require(q.shape() == Shape({sh.queries, sh.heads, sh.d_qk}), "cpu dense_mha: q shape " + q.shape().str());
  require(k.shape() == Shape({sh.keys, sh.heads, sh.d_qk}), "cpu dense_mha: k shape " + k.shape().str());
  require(v.shape() == Shape({sh.keys, sh.heads, sh.d_v}), "cpu dense_mha: v shape " + v.shape().str());
  const std::int64_t qblocks = (sh.queries + kQueryBlock - 1) / kQueryBlock;
  const auto scale = static_cast<float>(sh.scale);
  // Tasks are (query block, head): the head's key block is transposed once and used
  // by up to 16 queries, each stopping at its own causal bound.
  parallel_for(qblocks * sh.heads, [&](std::int64_t task) {
    const std::int64_t t0 = (task / sh.heads) * kQueryBlock;
    const int h = static_cast<int>(task % sh.heads);
    const std::int64_t t1 = std::min(sh.queries, t0 + kQueryBlock);
    const int nq = static_cast<int>(t1 - t0);
    std::vector<float> kt(static_cast<std::size_t>(sh.d_qk) * kKeyBlock);
    std::vector<float> acc(static_cast<std::size_t>(nq) * sh.d_v, 0.0f);
    std::vector<RowState> st(static_cast<std::size_t>(nq));
    const float* krows[kKeyBlock];
    const float* vrows[kKeyBlock];
    const std::int64_t last_end = key_end(t1 - 1, sh.query_offset, sh.keys, true);
    for (std::int64_t s0 = 0; s0 < last_end; s0 += kKeyBlock) {
      const int nb = static_cast<int>(std::min<std::int64_t>(kKeyBlock, last_end - s0));
      for (int j = 0; j < nb; ++j) { krows[j] = &k(s0 + j, h, 0); vrows[j] = &v(s0 + j, h, 0); }
      transpose_block(krows, nb, sh.d_qk, kt.data());
      for (int i = 0; i < nq; ++i) {
        const std::int64_t end = key_end(t0 + i, sh.query_offset, sh.keys, true);
        const int n = static_cast<int>(std::clamp<std::int64_t>(end - s0, 0, nb));
        if (n == 0) continue;
        // A causal bound inside the block: use only its first n keys. The transposed
        // block keeps stride kKeyBlock, so the same buffer serves every query.
        attend_block(&q(t0 + i, h, 0), kt.data(), n, sh.d_qk, sh.d_v, scale, vrows, st[i],
                     &acc[static_cast<std::size_t>(i) * sh.d_v]);
      }
    }
    for (int i = 0; i < nq; ++i)
      finish_row(st[i], &acc[static_cast<std::size_t>(i) * sh.d_v], sh.d_v, out_dtype, &out(t0 + i, h, 0), &lse(t0 + i, h));
  });
}

}  // namespace dsa::cpu
