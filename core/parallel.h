// Thread parallelism for the CPU code: OpenMP when the compiler has it, serial
// otherwise. Results never depend on the thread count: every parallel loop here
// writes disjoint outputs, and reductions are done per item, never across threads.
#pragma once

#include <cstdint>
#include <exception>
#include <mutex>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsa {

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_max_threads(int n) {
#if defined(_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

// Calls f(i) for i in [0, n), spread over the threads. An exception thrown by f is
// carried out of the parallel region (the first one wins) and rethrown here:
// OpenMP regions must not be left by an exception.
template <class F>
void parallel_for(std::int64_t n, F&& f) {
  std::exception_ptr error;
  std::mutex error_mutex;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    try {
      f(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Calls f(lo, hi) over [0, n) in chunks of `chunk` elements spread over the threads:
// element-wise work on large arrays (rounding, bit conversions of caches of billions of
// values) that one thread would take seconds over.
template <class F>
void parallel_chunks(std::int64_t n, std::int64_t chunk, F&& f) {
  if (n <= 0) return;
  parallel_for((n + chunk - 1) / chunk, [&](std::int64_t b) { f(b * chunk, b * chunk + chunk < n ? b * chunk + chunk : n); });
}

}  // namespace dsa
