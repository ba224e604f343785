// Named ranges for Nsight Systems: DSA_TRACE_RANGE("phase") marks the enclosing scope.
// With the CUDA toolkit present this is an NVTX range (header-only NVTX 3); without
// it, nothing.
#pragma once

#if defined(DSA_HAVE_NVTX)
#include <nvtx3/nvToolsExt.h>

namespace dsa {
class TraceRange {
 public:
  explicit TraceRange(const char* name) { nvtxRangePushA(name); }
  ~TraceRange() { nvtxRangePop(); }
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;
};
}  // namespace dsa
#define DSA_TRACE_CAT2(a, b) a##b
#define DSA_TRACE_CAT(a, b) DSA_TRACE_CAT2(a, b)
#define DSA_TRACE_RANGE(name) ::dsa::TraceRange DSA_TRACE_CAT(dsa_trace_range_, __LINE__)(name)
#else
#define DSA_TRACE_RANGE(name) ((void)0)
#endif
