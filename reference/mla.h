// MLA weight absorption (dsa-spec.md section 2): the same attention computed in two
// modes.
//
// kv_b_proj (W_kvb) has the Hugging Face Linear layout [H * (nope + v), rank]: for head
// h, rows [h*(nope+v), h*(nope+v)+nope) form W_UK_h [nope, rank] and the next v rows
// form W_UV_h [v, rank].
//   MHA mode:  k_h[s] = [W_UK_h c_kv[s] | k_rope[s]],  v_h[s] = W_UV_h c_kv[s]
//              q_h = [q_nope_h | q_rope_h]              (d_qk = nope + rope, d_v = v)
//   MQA mode:  q~_h = [W_UK_h^T q_nope_h | q_rope_h]     (d_qk = rank + rope)
//              key = [c_kv | k_rope] shared by all heads, value = c_kv (d_v = rank)
//              head output o_h (rank) is mapped back by W_UV_h: out_h = W_UV_h o_h.
// Since q_nope_h . (W_UK_h c) = (W_UK_h^T q_nope_h) . c, both modes give the same
// logits and, after W_UV, the same output, in exact arithmetic.
#pragma once

#include "core/tensor.h"

namespace dsa::ref {

struct MlaDims {
  int heads = 128;
  int qk_nope = 128;
  int qk_rope = 64;
  int v_head = 128;
  int kv_rank = 512;
};

struct AbsorbedWeights {
  HostTensor<float> w_uk;  // [H, nope, rank]
  HostTensor<float> w_uv;  // [H, v, rank]
};

// Splits W_kvb [H*(nope+v), rank] into W_UK and W_UV.
AbsorbedWeights split_kv_b(const HostTensor<float>& w_kvb, const MlaDims& d);

// q [T, H, nope+rope] -> q~ [T, H, rank+rope] (fp64 accumulation).
HostTensor<float> absorb_query(const HostTensor<float>& q, const AbsorbedWeights& w, const MlaDims& d);

// Latent cache [S, rank+rope] -> per-head keys [S, H, nope+rope] and values [S, H, v].
void expand_latent_cache(const HostTensor<float>& cache, const AbsorbedWeights& w, const MlaDims& d,
                         HostTensor<float>& k, HostTensor<float>& v);

// Latent head outputs o [T, H, rank] -> [T, H, v] through W_UV.
HostTensor<float> project_latent_output(const HostTensor<float>& o, const AbsorbedWeights& w, const MlaDims& d);

}  // namespace dsa::ref
