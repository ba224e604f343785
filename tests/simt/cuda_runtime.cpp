// The part of the CUDA runtime API the emulated kernels and their tests call, on the
// host: device memory is host memory, streams are synchronous, a launch runs the kernel
// to its end through the scheduler (scheduler.h). Linked instead of libcudart, only into
// the emulator's test binary.
//
// Device memory is filled with 0xFF bytes when allocated (NaN as a float), as a fresh
// GPU buffer holds whatever was there: a kernel reading what nobody wrote shows. The
// bytes between an allocation's end and the next 256 hold a canary checked after every
// launch, and a page behind them faults on a read or write further out.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "simt.h"

namespace simt {

namespace {

constexpr unsigned char kCanary = 0xC5;

struct Allocation {
  void* base;               // the mapping
  std::size_t mapped, size;
};

std::map<const char*, Allocation>& allocations() {
  static std::map<const char*, Allocation> a;
  return a;
}

std::map<const void*, int>& smem_opt_in() {
  static std::map<const void*, int> m;
  return m;
}

cudaError_t g_last = cudaSuccess;
std::string g_reason;

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// The first allocation whose canary a launch overwrote, or "" (the canary is restored,
// so the next launch is judged on its own).
std::string canaries_broken() {
  for (const auto& [p, a] : allocations()) {
    const std::size_t slack = (a.size + 255) / 256 * 256 - a.size;
    char* tail = const_cast<char*>(p) + a.size;
    for (std::size_t i = 0; i < slack; ++i)
      if (static_cast<unsigned char>(tail[i]) != kCanary) {
        std::memset(tail, kCanary, slack);
        return "a write " + std::to_string(i) + " byte(s) past the end of a " + std::to_string(a.size) +
               "-byte allocation";
      }
  }
  return "";
}

// Where an address lies against the allocations: the fault handler's message.
std::string describe(const void* address) {
  const auto* a = static_cast<const char*>(address);
  for (const auto& [p, al] : allocations()) {
    const char* lo = static_cast<const char*>(al.base);
    if (a >= lo && a < lo + al.mapped) {
      if (a >= p + al.size)
        return std::to_string(a - p - static_cast<std::ptrdiff_t>(al.size)) + " bytes past the end of a " +
               std::to_string(al.size) + "-byte allocation";
      return std::to_string(p - a) + " bytes before the start of a " + std::to_string(al.size) + "-byte allocation";
    }
  }
  return "in no device allocation";
}

[[maybe_unused]] const bool g_describer_set = (set_address_describer(describe), true);

cudaError_t record(cudaError_t err, const std::string& why) {
  g_last = err;
  g_reason = why;
  return err;
}

}  // namespace

std::string check_launch(const void* kernel, std::size_t dynamic_bytes) {
  const auto it = smem_opt_in().find(kernel);
  const std::size_t allowed = it != smem_opt_in().end() ? static_cast<std::size_t>(it->second) : 48 * 1024;
  if (dynamic_bytes > allowed)
    return "cudaErrorInvalidValue: " + std::to_string(dynamic_bytes) + " bytes of dynamic shared memory, " +
           std::to_string(allowed) + " allowed (cudaFuncSetAttribute opts a kernel in above 48 KB)";
  return "";
}

void set_launch_error(const std::string& why) {
  std::string w = why;
  if (w.empty()) w = canaries_broken();
  if (w.empty()) return;
  const cudaError_t err = w.rfind("cudaErrorInvalidValue", 0) == 0           ? cudaErrorInvalidValue
                          : w.rfind("cudaErrorInvalidConfiguration", 0) == 0 ? cudaErrorInvalidConfiguration
                                                                             : cudaErrorLaunchFailure;
  record(err, w);
  std::fprintf(stderr, "simt: launch failed: %s\n", w.c_str());
}

}  // namespace simt

cudaError_t cudaMalloc(void** p, size_t size) {
  const std::size_t usable = (size + 255) / 256 * 256;
  const std::size_t pg = simt::page();
  const std::size_t mapped = (usable + pg - 1) / pg * pg + pg;
  void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return simt::record(cudaErrorMemoryAllocation, "out of host memory");
  mprotect(static_cast<char*>(base) + mapped - pg, pg, PROT_NONE);
  char* start = static_cast<char*>(base) + (mapped - pg - usable);  // the usable bytes end at the guard page
  std::memset(start, 0xFF, size);
  std::memset(start + size, simt::kCanary, usable - size);
  simt::allocations()[start] = {base, mapped, size};
  *p = start;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  auto& a = simt::allocations();
  const auto it = a.find(static_cast<const char*>(p));
  if (it == a.end()) return simt::record(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
  munmap(it->second.base, it->second.mapped);
  a.erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* p, int value, size_t count) {
  std::memset(p, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t count, cudaStream_t) { return cudaMemset(p, value, count); }

cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024)
      return simt::record(cudaErrorInvalidValue, "dynamic shared memory above the device's 227 KB");
    simt::smem_opt_in()[func] = value;
  }
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = simt::g_last;
  simt::g_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return simt::g_last; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaError(other)";
  }
}

// The emulator's reason for the last failure, which a GPU would not give.
const char* cudaGetErrorString(cudaError_t error) {
  static std::string s;
  s = std::string(cudaGetErrorName(error));
  if (error != cudaSuccess && !simt::g_reason.empty()) s += " [emulator: " + simt::g_reason + "]";
  return s.c_str();
}
