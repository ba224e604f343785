// Host memory for large arrays. The inputs of the long-context cases are gigabytes (the
// dense MHA prefill at 64K holds 10.7 GB of keys and values in fp32), and on the virtual
// machines this project runs on (Firecracker, here and on the lent GPU machines) the
// first touch of each 4 KB page costs more than making the values: setting up that case
// took 118 s on 2 cores, 69 of them in the kernel's page faults, which on the GPU
// machine are device time spent waiting for the host. So a block of kLargeHostBlock
// bytes or more is mapped on its own, 2 MB-aligned, with transparent huge pages advised
// (the kernels' policy there is `madvise`), and its owner writes it first from every
// thread. Smaller blocks, and every block under a sanitizer (which checks only heap
// memory), come from operator new.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace dsa {

inline constexpr std::size_t kLargeHostBlock = std::size_t{32} << 20;

void* host_allocate(std::size_t bytes);  // throws std::bad_alloc
void host_free(void* p, std::size_t bytes) noexcept;

// Calls fn(ctx, lo, hi) over [0, n) in chunks of `chunk`, spread over the threads (a
// plain function, so this header needs no OpenMP).
void host_parallel_ranges(std::size_t n, std::size_t chunk, void (*fn)(void* ctx, std::size_t lo, std::size_t hi),
                          void* ctx);

// An allocator whose count-only construction leaves elements of trivial types unwritten:
// the owner's first write is the first touch, and it can be spread over the threads.
template <class T>
struct HostAllocator {
  using value_type = T;
  HostAllocator() = default;
  template <class U>
  HostAllocator(const HostAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(host_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { host_free(p, n * sizeof(T)); }
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-initialised: no value written for a float
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
  friend bool operator==(const HostAllocator&, const HostAllocator&) noexcept { return true; }
};

// A host array whose values are unset until written (`HostVector<T> v(n)`), e.g. the
// destination of a conversion that writes every element in parallel.
template <class T>
using HostVector = std::vector<T, HostAllocator<T>>;

// Calls f(lo, hi) over [0, n) elements of `elem_bytes` each: one call for an array under
// kLargeHostBlock, else chunks of 4 MB spread over the threads (host_parallel_ranges).
template <class F>
void host_ranges(std::size_t n, std::size_t elem_bytes, F&& f) {
  if (n * elem_bytes < kLargeHostBlock) {
    f(std::size_t{0}, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  host_parallel_ranges(
      n, (std::size_t{4} << 20) / elem_bytes,
      [](void* ctx, std::size_t lo, std::size_t hi) { (*static_cast<Fn*>(ctx))(lo, hi); }, &f);
}

// Sets every element of [p, p + n) to `value`; large arrays from every thread.
template <class T>
void host_fill(T* p, std::size_t n, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  host_ranges(n, sizeof(T), [&](std::size_t lo, std::size_t hi) { std::fill(p + lo, p + hi, value); });
}

// Copies [src, src + n) to dst (not overlapping); large arrays from every thread.
template <class T>
void host_copy(const T* src, std::size_t n, T* dst) {
  static_assert(std::is_trivially_copyable_v<T>);
  host_ranges(n, sizeof(T), [&](std::size_t lo, std::size_t hi) { std::copy(src + lo, src + hi, dst + lo); });
}

}  // namespace dsa
