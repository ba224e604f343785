#include "core/host_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "core/parallel.h"

namespace dsa {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kOwnMappings = false;  // keep every block where AddressSanitizer looks
#else
constexpr bool kOwnMappings = true;
#endif

constexpr std::size_t kHugePage = std::size_t{2} << 20;

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

bool own_mapping(std::size_t bytes) { return kOwnMappings && bytes >= kLargeHostBlock; }

}  // namespace

void* host_allocate(std::size_t bytes) {
  // Beyond half the address space no machine maps it, and the sizes below cannot wrap.
  if (bytes > static_cast<std::size_t>(-1) / 2) throw std::bad_alloc();
  if (!own_mapping(bytes)) return ::operator new(bytes);
  // Map a huge page more than needed, then give back the unaligned head and the tail, so
  // the block starts on a 2 MB boundary and every 2 MB of it can be one page.
  const std::size_t len = round_up(bytes, page_size());
  const std::size_t mapped = len + kHugePage;
  void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  const std::uintptr_t start = round_up(b, kHugePage);
  if (start > b) munmap(base, start - b);
  if (b + mapped > start + len) munmap(reinterpret_cast<void*>(start + len), b + mapped - (start + len));
  // Advice only: where the kernel's policy is `never` the block keeps 4 KB pages.
  madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}

void host_free(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (!own_mapping(bytes)) {
    ::operator delete(p);
    return;
  }
  munmap(p, round_up(bytes, page_size()));
}

void host_parallel_ranges(std::size_t n, std::size_t chunk, void (*fn)(void*, std::size_t, std::size_t), void* ctx) {
  if (n == 0) return;
  if (chunk == 0) chunk = 1;
  parallel_chunks(static_cast<std::int64_t>(n), static_cast<std::int64_t>(chunk), [&](std::int64_t lo, std::int64_t hi) {
    fn(ctx, static_cast<std::size_t>(lo), static_cast<std::size_t>(hi));
  });
}

}  // namespace dsa
