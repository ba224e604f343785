// Attention on the CPU: the definitions that every attention kernel is checked against
// (dsa-spec.md sections 2, 4 and 6). fp64 accumulation, exact two-pass softmax.
//
// For one query head with query vector q and a set of keys K (each key a row of d_qk
// values whose first d_v values are also its value vector in MQA mode):
//   l_s   = scale * (q . k_s)
//   lse   = ln( sum_s exp(l_s) )                           (natural log)
//   out   = sum_s exp(l_s - lse) * v_s
// An empty key set gives out = 0 and lse = -inf (the project's convention).
//
// Each function can also return `magnitude` [T, H, d_v] = sum_s p_s |v_s| (p the
// normalised probabilities): the size of the error a kernel may make by rounding p
// before P * V. Rounding each p_s to a format of unit roundoff u moves out by at most
// u * magnitude, whatever the keys; validation adds that to the per-element bound
// (Tolerance::p_round), since FlashMLA and FlashAttention-style kernels all round P
// to bf16 and a sharply peaked softmax (attention sinks, needles) shows it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/op_shapes.h"
#include "core/tensor.h"

namespace dsa::ref {

// The softmax scale of DeepSeek-V3.2-Exp: (128+64)^-0.5 * m^2 with the YaRN
// m = 0.1 * ln(40) + 1, about 0.13524. Not 576^-0.5: generic kernels get this wrong.
double model_softmax_scale();

// Sparse MQA-mode attention over given indices.
//   q [T, H, d_qk], kv [S, d_qk] (value = kv[s, 0:d_v]), indices [T, K] int32.
// Index entries < 0 or >= S are skipped; a repeated index is attended as often as it
// is listed (a selector never repeats one). out [T, H, d_v], lse [T, H].
void sparse_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                const HostTensor<std::int32_t>& indices, HostTensor<float>& out, HostTensor<float>& lse,
                HostTensor<float>* magnitude = nullptr);

// Dense causal MQA-mode attention: query t sees keys [0, min(S, query_offset + t + 1)).
void dense_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
               HostTensor<float>& out, HostTensor<float>& lse, HostTensor<float>* magnitude = nullptr);

// Dense causal MHA-mode attention (per-head keys and values):
//   q [T, H, d_qk], k [S, H, d_qk], v [S, H, d_v]; same causal rule.
void dense_mha(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
               const HostTensor<float>& v, HostTensor<float>& out, HostTensor<float>& lse,
               HostTensor<float>* magnitude = nullptr);

// Attention logits l_s = scale * q[t,h] . kv[s] (MQA mode) for s < key_end(t), fp64.
// Used for accuracy metrics (attention-mass recall), not for timing.
void mqa_logits_row(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                    std::int64_t t, int h, std::vector<double>& logits);

}  // namespace dsa::ref
