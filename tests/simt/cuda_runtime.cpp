// The part of the CUDA runtime API the emulated kernels and their tests call, on the
// host: device memory is host memory, streams are synchronous, a launch runs the kernel
// to its end through the scheduler (scheduler.h). Linked instead of libcudart, only into
// the emulator's test binary.
//
// Device memory is filled with 0xFF bytes when allocated (NaN as a float), as a fresh
// GPU buffer holds whatever was there: a kernel reading what nobody wrote shows. The
// bytes between an allocation's end and the next 256 hold a canary checked after every
// launch, and a page behind them faults on a read or write further out.
//
// A kernel's __trap leaves the error sticky, as on a GPU: every later launch,
// synchronisation, copy and allocation in the process returns it, and reading it does
// not clear it, so the harness's handling of a lost context (a new worker process) runs
// here too. The emulator's own findings (a race, a deadlock, a write past an allocation)
// stay errors of their launch alone, so its tests go on in the same process.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include <cuda.h>

#include "simt.h"
#include "tensor_core.h"

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
cudaError_t g_sticky = cudaSuccess;  // set by a __trap, for the rest of the process

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// The emulated device's memory: an H100's 80 GiB, or DSA_SIMT_DEVICE_BYTES (so a test
// can run a case out of device memory without that much host memory). cudaMalloc
// refuses what would take the live allocations past it, as a GPU does.
std::size_t device_capacity() {
  static const std::size_t bytes = [] {
    const char* e = std::getenv("DSA_SIMT_DEVICE_BYTES");
    return e != nullptr && *e != '\0' ? static_cast<std::size_t>(std::strtoull(e, nullptr, 10)) : std::size_t{80} << 30;
  }();
  return bytes;
}
std::size_t g_allocated = 0;  // the live allocations' sizes

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
  if (g_sticky != cudaSuccess) return "a launch after a kernel's __trap: the context is unusable (a sticky error)";
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
  if (w.rfind("__trap", 0) == 0) g_sticky = err;
  std::fprintf(stderr, "simt: launch failed: %s\n", w.c_str());
}

}  // namespace simt

cudaError_t cudaMalloc(void** p, size_t size) {
  if (simt::g_sticky != cudaSuccess) return simt::g_sticky;
  if (size > simt::device_capacity() - simt::g_allocated)
    return simt::record(cudaErrorMemoryAllocation, "out of device memory: " + std::to_string(size) + " bytes asked for, " +
                                                       std::to_string(simt::device_capacity() - simt::g_allocated) +
                                                       " free on the emulated device");
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
  simt::g_allocated += size;
  *p = start;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  auto& a = simt::allocations();
  const auto it = a.find(static_cast<const char*>(p));
  if (it == a.end()) return simt::record(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
  munmap(it->second.base, it->second.mapped);
  simt::g_allocated -= it->second.size;
  a.erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  if (simt::g_sticky != cudaSuccess) return simt::g_sticky;
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* p, int value, size_t count) {
  if (simt::g_sticky != cudaSuccess) return simt::g_sticky;
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
  simt::g_last = simt::g_sticky;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return simt::g_last; }
cudaError_t cudaDeviceSynchronize(void) { return simt::g_sticky; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return simt::g_sticky; }

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

namespace {
// cuTensorMapEncodeTiled's signature (cudaTypedefs.h), onto the emulator's encoder.
CUresult encode_tiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* global, const cuuint64_t* dims,
                      const cuuint64_t* strides, const cuuint32_t* box, const cuuint32_t* element_strides,
                      CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                      CUtensorMapFloatOOBfill oob) {
  return static_cast<CUresult>(simt::tensor_map_encode_tiled(map, type, rank, global, dims, strides, box, element_strides,
                                                             interleave, swizzle, l2, oob));
}
}  // namespace

// --- The device: one emulated H100-like GPU ------------------------------------------
// Its figures are an H100 SXM's, so launch plans size their grids as they would there.

namespace {
constexpr int kSms = 132;
constexpr int kSmemPerSm = 233472;      // 228 KB
constexpr int kSmemOptIn = 232448;      // 227 KB a block
constexpr int kThreadsPerSm = 2048;
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return simt::record(cudaErrorInvalidDevice, "the emulator has one device");
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "SIMT emulator (CPU; H100-like limits)");
  p->multiProcessorCount = kSms;
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = simt::device_capacity();
  p->memoryBusWidth = 5120;
  p->l2CacheSize = 50 << 20;
  p->sharedMemPerBlockOptin = kSmemOptIn;
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = kSms; break;
    case cudaDevAttrL2CacheSize: *value = 50 << 20; break;
    case cudaDevAttrClockRate: *value = 1980000; break;
    case cudaDevAttrMemoryClockRate: *value = 2619000; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = kSmemOptIn; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = kSmemPerSm; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    default: *value = 0;
  }
  return cudaSuccess;
}

// Blocks per SM by threads and shared memory only: the emulator knows no register
// counts, so a plan sized by occupancy may differ from the GPU's (it must be right for
// any count anyway).
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* blocks, const void*, int block_size,
                                                                   size_t dynamic_smem, unsigned int) {
  if (block_size <= 0) return simt::record(cudaErrorInvalidValue, "occupancy of a block of no threads");
  const int by_threads = kThreadsPerSm / block_size;
  const int by_smem = static_cast<int>(kSmemPerSm / (dynamic_smem + 1024));
  *blocks = by_threads < by_smem ? by_threads : by_smem;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *total = simt::device_capacity();
  *free_bytes = *total - simt::g_allocated;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char* id, int len, int) {
  std::snprintf(id, static_cast<std::size_t>(len), "simt:00:00.0");
  return cudaSuccess;
}

// The one driver entry point the project asks for: cuTensorMapEncodeTiled, the
// emulator's (tensor_core.h), whose maps its TMA loads read.
cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned int, unsigned long long,
                                             cudaDriverEntryPointQueryResult* status) {
  if (std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0) {
    *fn = reinterpret_cast<void*>(&encode_tiled);
    if (status != nullptr) *status = cudaDriverEntryPointSuccess;
    return cudaSuccess;
  }
  *fn = nullptr;
  if (status != nullptr) *status = cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}

// Events: host time, as every launch has run to its end when it returns.
struct CUevent_st {
  std::chrono::steady_clock::time_point at;
};

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st{};
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return simt::g_sticky; }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}
