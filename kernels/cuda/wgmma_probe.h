// A self-test of the warpgroup MMA conventions the wgmma kernels rely on
// (kernels/cuda/wgmma_probe.cu): each form of wgmma they issue, with its operands laid
// out in shared memory exactly as that kernel lays them out (128-byte swizzle, the
// descriptors' offsets, the K advance, register A fragments), on one small product.
// When a wgmma kernel fails its test, this says whether the layout itself is wrong.
#pragma once

#include <string>
#include <vector>

namespace dsa::cuda {

enum class WgmmaProbeKind {
  indexer_e4m3,    // m64n128k32 e4m3, A and B K-major (the wgmma indexer): K = 128
  mqa_scores,      // m64n32k16 bf16, A and B K-major, B at row 32 of a 64-row tile (MQA S): K = 64
  mqa_scores_n64,  // m64n64k16 bf16, A and B K-major over two 64-column blocks (seesaw MQA S): K = 128
  mqa_values,      // m64n256k16 bf16, A K-major, B MN-major in 64-row blocks 8 KB apart (MQA P V): K = 64
  mha_scores,      // m64n128k16 bf16, A and B K-major over two 64-column blocks (MHA S): K = 128
  mha_values,      // m64n128k16 bf16, A from registers, B MN-major in 128-row blocks 16 KB apart (MHA P V): K = 128
};

struct WgmmaProbeShape {
  int n, k;           // D [64, n] = A [64, k] * B [k, n]
  int element_bytes;  // 2: bf16 operands; 1: e4m3 (the indexer form)
};
WgmmaProbeShape wgmma_probe_shape(WgmmaProbeKind kind);
std::string wgmma_probe_name(WgmmaProbeKind kind);

// D = A B on the device through that wgmma form. a: [64, k] row-major, b: [k, n]
// row-major, as operand bits (bf16 little-endian pairs of bytes, or e4m3 bytes).
// Returns D [64, n] row-major in fp32. Needs a CUDA device of compute capability 9.0
// (throws CudaError otherwise).
std::vector<float> wgmma_probe(WgmmaProbeKind kind, const std::vector<unsigned char>& a,
                               const std::vector<unsigned char>& b);

}  // namespace dsa::cuda
