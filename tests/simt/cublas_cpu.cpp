// cuBLAS and cuBLASLt for the SIMT emulator. The three matrix products the GPU model
// forward calls (cublasGemmEx, cublasSgemm, cublasGemmStridedBatchedEx: column-major,
// bf16 or fp32 operands, fp32 accumulation) are computed on the CPU, so the model's GPU
// path runs emulated; cuBLASLt (the device ceilings' 8192^3 products) is refused with
// CUBLAS_STATUS_NOT_SUPPORTED.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/matmul.h"

namespace {

constexpr cublasStatus_t kNo = CUBLAS_STATUS_NOT_SUPPORTED;

float load(const void* p, cudaDataType t, std::size_t i) {
  if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
  const std::uint32_t u = static_cast<std::uint32_t>(static_cast<const std::uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void store(void* p, cudaDataType t, std::size_t i, float v) {
  if (t == CUDA_R_32F) {
    static_cast<float*>(p)[i] = v;
    return;
  }
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  const auto h = static_cast<std::uint16_t>(v != v ? 0x7FC0u : (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);  // nearest even
  static_cast<std::uint16_t*>(p)[i] = h;
}

bool supported(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16BF; }

// C [m x n] = alpha op(A) op(B) + beta C, column-major, as cuBLAS defines it. op(A)'s
// rows and op(B)'s columns are copied out as fp32 rows of k, so the product is
// dsa::matmul_nt's (a vectorised, threaded CPU product: the emulated model forward
// spends much of its time here).
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const void* A, cudaDataType at,
          int lda, const void* B, cudaDataType bt, int ldb, float beta, void* C, cudaDataType ct, int ldc) {
  const auto element = [](std::size_t row, std::size_t col, std::size_t ld, bool transposed) {
    return transposed ? col + row * ld : row + col * ld;  // element (row, col) of op(X), column-major X
  };
  std::vector<float> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(n) * k),
      c(static_cast<std::size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int l = 0; l < k; ++l) a[static_cast<std::size_t>(i) * k + l] = load(A, at, element(i, l, lda, ta == CUBLAS_OP_T));
  for (int j = 0; j < n; ++j)
    for (int l = 0; l < k; ++l) b[static_cast<std::size_t>(j) * k + l] = load(B, bt, element(l, j, ldb, tb == CUBLAS_OP_T));
  dsa::matmul_nt(a.data(), k, b.data(), k, c.data(), n, m, n, k);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      const std::size_t ci = static_cast<std::size_t>(i) + static_cast<std::size_t>(j) * ldc;
      const float acc = c[static_cast<std::size_t>(i) * n + j];
      store(C, ct, ci, alpha * acc + (beta != 0.0f ? beta * load(C, ct, ci) : 0.0f));
    }
}

bool plain(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T; }

}  // namespace

cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  static int handle;
  *h = reinterpret_cast<cublasHandle_t>(&handle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType at, int lda, const void* B, cudaDataType bt,
                            int ldb, const void* beta, void* C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                            cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F || !supported(at) || !supported(bt) || !supported(ct) || !plain(ta) || !plain(tb))
    return kNo;
  gemm(ta, tb, m, n, k, *static_cast<const float*>(alpha), A, at, lda, B, bt, ldb, *static_cast<const float*>(beta), C, ct,
       ldc);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                          const void* alpha, const void* A, cudaDataType at, int lda, long long sa,
                                          const void* B, cudaDataType bt, int ldb, long long sb, const void* beta, void* C,
                                          cudaDataType ct, int ldc, long long sc, int batch, cublasComputeType_t compute,
                                          cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F || !supported(at) || !supported(bt) || !supported(ct) || !plain(ta) || !plain(tb))
    return kNo;
  const auto bytes = [](cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; };
  for (int b = 0; b < batch; ++b)
    gemm(ta, tb, m, n, k, *static_cast<const float*>(alpha), static_cast<const char*>(A) + b * sa * bytes(at), at, lda,
         static_cast<const char*>(B) + b * sb * bytes(bt), bt, ldb, *static_cast<const float*>(beta),
         static_cast<char*>(C) + b * sc * bytes(ct), ct, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
  if (!plain(ta) || !plain(tb)) return kNo;
  gemm(ta, tb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t*) { return kNo; }
cublasStatus_t cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t*, cublasComputeType_t, cudaDataType_t) { return kNo; }
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void*, size_t) {
  return kNo;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t*, cudaDataType, uint64_t, uint64_t, int64_t) { return kNo; }
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t*) { return kNo; }
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
                                                    const void*, size_t) {
  return kNo;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t[], int*) {
  return kNo;
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t, const void*, const void*, cublasLtMatrixLayout_t,
                              const void*, cublasLtMatrixLayout_t, const void*, const void*, cublasLtMatrixLayout_t,
                              void*, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t) {
  return kNo;
}
