#include "kernels/cuda/cuda_check.h"

#include <cstdio>

namespace dsa {

namespace {
std::string where(const char* call, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);  // best effort: the device is context, not a second failure
  return std::string(" in ") + call + " at " + file + ":" + std::to_string(line) + " on device " + std::to_string(device);
}
}  // namespace

std::string cuda_error_message(cudaError_t err, const char* call, const char* file, int line) {
  return std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")" +
         where(call, file, line);
}

void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw CudaError(cuda_error_message(err, call, file, line));
}

void cuda_check_nothrow(cudaError_t err, const char* call, const char* file, int line) noexcept {
  if (err != cudaSuccess) std::fprintf(stderr, "%s\n", cuda_error_message(err, call, file, line).c_str());
}

// cublasGetStatusName lives in libcublas; we link only cublasLt, so name them here.
static const char* cublas_status_name(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_(unknown)";
  }
}

void cublas_check(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string("cuBLAS error ") + cublas_status_name(st) + " (" + std::to_string(static_cast<int>(st)) +
                    ")" + where(call, file, line));
}

}  // namespace dsa
