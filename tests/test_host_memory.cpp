// Host tensors of the long-context cases (core/host_memory.h): blocks of 32 MB and more
// are mapped on their own, 2 MB-aligned and advised as transparent huge pages, filled
// by every thread; smaller ones come from operator new. Either way a tensor holds its
// fill value in every element and copies like any value.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/host_memory.h"
#include "core/tensor.h"

namespace dsa {
namespace {

// Elements that differ from `v` (all of them scanned: a chunk the fill skipped shows).
template <class T>
std::int64_t count_not(const HostTensor<T>& t, T v) {
  std::int64_t n = 0;
  for (const T x : t.span()) n += x != v;
  return n;
}

// The kernel's flags of the mapping holding `p` (/proc/self/smaps' VmFlags line).
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) inside = lo <= at && at < hi;
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

TEST(HostMemory, LargeAndSmallTensorsHoldTheirFillValueInEveryElement) {
  const std::int64_t large = (kLargeHostBlock / sizeof(float)) + 12345;  // above the threshold, not a whole chunk
  const HostTensor<float> f({large}, 2.5f);
  EXPECT_EQ(count_not(f, 2.5f), 0);
  const HostTensor<std::int32_t> i({3, large / 3}, -1);
  EXPECT_EQ(count_not(i, -1), 0);
  const HostTensor<float> zeros({large});
  EXPECT_EQ(count_not(zeros, 0.0f), 0);
  const HostTensor<std::uint8_t> small({1000}, 7);
  EXPECT_EQ(count_not(small, std::uint8_t{7}), 0);
  const HostTensor<float> empty({0, 4}, 1.0f);
  EXPECT_EQ(empty.numel(), 0);
}

TEST(HostMemory, LargeTensorsCopyAndMoveAsValues) {
  HostTensor<float> a({static_cast<std::int64_t>(kLargeHostBlock / sizeof(float)) + 1}, 1.0f);
  a.data()[0] = 3.0f;
  a.data()[a.numel() - 1] = 4.0f;
  const HostTensor<float> b = a;  // a copy owns its own block
  a.data()[0] = 5.0f;
  EXPECT_EQ(b.data()[0], 3.0f);
  EXPECT_EQ(b.data()[b.numel() - 1], 4.0f);
  EXPECT_NE(b.data(), a.data());
  HostTensor<float> c = std::move(a);
  EXPECT_EQ(c.data()[0], 5.0f);
  HostTensor<float> d({4}, 0.0f);
  d = b;  // small <- large, then large <- small
  EXPECT_EQ(d.numel(), b.numel());
  EXPECT_EQ(d.data()[b.numel() - 1], 4.0f);
  d = HostTensor<float>({4}, 6.0f);
  EXPECT_EQ(count_not(d, 6.0f), 0);
}

TEST(HostMemory, CopiesLargeAndSmallArraysWhole) {
  for (const std::size_t n : {std::size_t{1000}, kLargeHostBlock / sizeof(std::int32_t) + 777}) {
    HostVector<std::int32_t> src(n), dst(n);
    for (std::size_t i = 0; i < n; ++i) {
      src[i] = static_cast<std::int32_t>(i * 2654435761u);
      dst[i] = -1;
    }
    host_copy(src.data(), n, dst.data());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < n; ++i) differ += dst[i] != src[i];
    EXPECT_EQ(differ, 0u) << n << " elements";
  }
}

TEST(HostMemory, LargeBlocksAreHugePageAlignedAndAdvised) {
  HostTensor<float> t({static_cast<std::int64_t>(kLargeHostBlock / sizeof(float)) * 2}, 1.0f);
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer large blocks come from operator new, where it checks them";
#endif
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % (std::uintptr_t{2} << 20), 0u);
  // The advice needs a kernel built with transparent huge pages (the file exists then).
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  if (!thp) GTEST_SKIP() << "this kernel has no transparent huge pages: the advice is refused, the block still works";
  const std::string flags = vm_flags_of(t.data());
  ASSERT_FALSE(flags.empty()) << "no mapping holds the tensor's data in /proc/self/smaps";
  EXPECT_NE((flags + " ").find(" hg "), std::string::npos) << "MADV_HUGEPAGE not set: " << flags;
}

// Pages (of the kernel's page size) that [p, p + bytes) spans from a page-aligned p.
std::size_t pages_of(std::size_t bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page;
}

// Pages of [p, p + bytes) the kernel holds in memory (mincore; p page-aligned).
std::size_t resident_pages(const void* p, std::size_t bytes) {
  std::vector<unsigned char> in(pages_of(bytes));
  if (mincore(const_cast<void*>(p), bytes, in.data()) != 0) return static_cast<std::size_t>(-1);
  std::size_t r = 0;
  for (const unsigned char c : in) r += c & 1;
  return r;
}

// HostTensor::unwritten is for a destination its maker writes whole (the sweep's 21 GB
// of prefix copies at 128K): no page of it is touched before that write.
TEST(HostMemory, AnUnwrittenTensorTouchesNoPageBeforeItsOwnersWrite) {
  const std::int64_t half = static_cast<std::int64_t>(kLargeHostBlock / sizeof(std::int32_t));
  HostTensor<std::int32_t> src({2, half});
  for (std::int64_t i = 0; i < src.numel(); ++i) src.data()[i] = static_cast<std::int32_t>(i * 2654435761u);
  auto t = HostTensor<std::int32_t>::unwritten({2, half});
  EXPECT_EQ(t.shape(), Shape({2, half}));
  ASSERT_EQ(t.numel(), src.numel());
#if !defined(__SANITIZE_ADDRESS__)  // (there the block comes from operator new, maybe reused)
  ASSERT_EQ(resident_pages(src.data(), src.bytes()), pages_of(src.bytes())) << "mincore cannot see written pages";
  EXPECT_EQ(resident_pages(t.data(), t.bytes()), 0u) << "the unwritten constructor wrote the block";
#endif
  host_copy(src.data(), static_cast<std::size_t>(src.numel()), t.data());
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) differ += t.data()[i] != src.data()[i];
  EXPECT_EQ(differ, 0);
  auto small = HostTensor<float>::unwritten({3, 5});
  EXPECT_EQ(small.numel(), 15);
  EXPECT_EQ(HostTensor<float>::unwritten({0, 7}).numel(), 0);
}

TEST(HostMemory, AnAllocationNoMachineHoldsThrowsBadAlloc) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's operator new aborts instead of throwing std::bad_alloc";
#endif
  EXPECT_THROW(host_allocate(std::size_t{1} << 62), std::bad_alloc);
  EXPECT_THROW(host_allocate(static_cast<std::size_t>(-1)), std::bad_alloc);
}

}  // namespace
}  // namespace dsa
