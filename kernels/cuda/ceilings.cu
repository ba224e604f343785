// The device's measured ceilings, against which every GPU case reports its share.
// Datasheet figures are leads; these are what this device, at its current clocks,
// actually does on random data (zeros run faster and would flatter every share).
#include <cublasLt.h>

#include <algorithm>
#include <vector>

#include "core/trace.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/timing.h"
#include "kernels/cuda_device.h"

namespace dsa {

namespace {

// Random bits -> random non-zero values of moderate size, never NaN or inf: e4m3 codes
// with magnitudes in [0.5, 1.875], bf16 patterns with magnitudes around 2^-7.
__global__ void fill_random(std::uint8_t* p, std::size_t n, bool fp8, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    x ^= x >> 15; x *= 2246822519u; x ^= x >> 13;
    if (fp8) {
      p[i] = static_cast<std::uint8_t>((x & 0x80u) | (0x30u + (x & 0x0Fu)));  // sign, biased exponent 6 or 7, any mantissa
    } else if (i % 2 == 1) {
      p[i] = static_cast<std::uint8_t>((x & 0x80u) | 0x3Cu | (x & 0x03u));  // high byte: sign and a fixed small exponent
    } else {
      p[i] = static_cast<std::uint8_t>(x);
    }
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr int kReps = 10;

double copy_gbps() {
  std::size_t free = 0, total = 0;
  DSA_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const std::size_t bytes = std::min<std::size_t>(std::size_t{1} << 30, free / 4);
  DeviceBuffer<std::uint8_t> a(bytes), b(bytes);
  a.fill_bytes(1);
  EventTimer timer;
  std::vector<double> t;
  for (int i = 0; i < kReps + 1; ++i) {
    const double s = timer.time(nullptr, [&] { DSA_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice)); });
    if (i > 0) t.push_back(s);  // the first is a warm-up
  }
  return 2.0 * static_cast<double>(bytes) / median(t) * 1e-9;
}

// D[m x n] = op(A) * B with A stored transposed (the "TN" layout, the one Hopper's
// fp8 matrix products require), all column-major, fp32 accumulation, bf16 output.
double gemm_tflops(bool fp8) {
  constexpr std::int64_t n = 8192;
  const cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  const std::size_t in_bytes = static_cast<std::size_t>(n * n) * (fp8 ? 1 : 2);
  DeviceBuffer<std::uint8_t> a(in_bytes), b(in_bytes), d(static_cast<std::size_t>(n * n) * 2);
  fill_random<<<1024, 256>>>(a.get(), in_bytes, fp8, 1u);
  DSA_CUDA_CHECK_LAUNCH();
  fill_random<<<1024, 256>>>(b.get(), in_bytes, fp8, 2u);
  DSA_CUDA_CHECK_LAUNCH();
  constexpr std::size_t kWorkspace = 64u << 20;
  DeviceBuffer<std::uint8_t> ws(kWorkspace);

  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  double result = 0;
  try {
    DSA_CUBLAS_CHECK(cublasLtCreate(&lt));
    DSA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    DSA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    DSA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    DSA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, in, n, n, n));
    DSA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, in, n, n, n));
    DSA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, n, n, n));
    DSA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    DSA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspace,
                                                          sizeof kWorkspace));
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    DSA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 1, &heur, &found));
    if (found == 0) throw CudaError("cuBLASLt found no algorithm");
    const float alpha = 1.0f, beta = 0.0f;
    EventTimer timer;
    std::vector<double> t;
    for (int i = 0; i < kReps + 2; ++i) {
      const double s = timer.time(nullptr, [&] {
        DSA_CUBLAS_CHECK(cublasLtMatmul(lt, op, &alpha, a.get(), la, b.get(), lb, &beta, d.get(), ld, d.get(), ld,
                                        &heur.algo, ws.get(), kWorkspace, nullptr));
      });
      if (i >= 2) t.push_back(s);  // two warm-ups
    }
    result = 2.0 * static_cast<double>(n) * n * n / median(t) * 1e-12;
  } catch (...) {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    if (lt) cublasLtDestroy(lt);
    throw;
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(lt);
  return result;
}

}  // namespace

DeviceCeilings measure_device_ceilings() {
  DSA_TRACE_RANGE("device ceilings");
  DeviceCeilings c;
  auto attempt = [&](const char* what, double& out, auto&& f) {
    try {
      out = f();
    } catch (const std::exception& e) {
      c.notes += std::string(c.notes.empty() ? "" : "; ") + what + ": " + e.what();
      cudaGetLastError();
    }
  };
  attempt("copy", c.copy_gbps, copy_gbps);
  attempt("bf16 matmul", c.bf16_tflops, [] { return gemm_tflops(false); });
  attempt("fp8 matmul", c.fp8_tflops, [] { return gemm_tflops(true); });
  return c;
}

void reset_device_memory_peak() { reset_device_bytes_peak(); }
std::int64_t device_memory_peak() { return static_cast<std::int64_t>(device_bytes_peak()); }
int current_sm_clock_mhz() { return sm_clock_mhz(); }

}  // namespace dsa
