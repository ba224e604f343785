// The one error-check family for CUDA runtime and cuBLAS calls. A failed call throws
// dsa::CudaError naming the call text, file, line and device, so a case ends with
// status "error" and that message, and the run goes on. The _NOTHROW form is for
// destructors and cleanup paths; it reports to stderr.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace dsa {

class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& what) : std::runtime_error(what) {}
};

std::string cuda_error_message(cudaError_t err, const char* call, const char* file, int line);
void cuda_check(cudaError_t err, const char* call, const char* file, int line);
void cuda_check_nothrow(cudaError_t err, const char* call, const char* file, int line) noexcept;
void cublas_check(cublasStatus_t st, const char* call, const char* file, int line);

}  // namespace dsa

#define DSA_CUDA_CHECK(call) ::dsa::cuda_check((call), #call, __FILE__, __LINE__)
#define DSA_CUDA_CHECK_NOTHROW(call) ::dsa::cuda_check_nothrow((call), #call, __FILE__, __LINE__)
// After every kernel launch: launch-configuration errors surface here, not later.
#define DSA_CUDA_CHECK_LAUNCH() ::dsa::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
#define DSA_CUBLAS_CHECK(call) ::dsa::cublas_check((call), #call, __FILE__, __LINE__)
