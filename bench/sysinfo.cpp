#include "bench/sysinfo.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/parallel.h"
#include "kernels/cuda_device.h"

namespace dsa::build_info {
const char* git_commit();
bool git_dirty();
}  // namespace dsa::build_info

namespace dsa::bench {

namespace {
bool g_peak_resettable = true;

// A "Key:  123 kB" field of a /proc file, in KiB; -1 when absent.
std::int64_t proc_kib(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream ss(line.substr(key.size() + 1));
      std::int64_t kib = 0;
      ss >> kib;
      return kib;
    }
  return -1;
}
}  // namespace

void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!(out << "5" << std::flush)) g_peak_resettable = false;
}

bool peak_is_per_case() { return g_peak_resettable; }

std::int64_t peak_rss_bytes() {
  const std::int64_t kib = proc_kib("/proc/self/status", "VmHWM");
  return kib < 0 ? -1 : kib * 1024;
}

namespace {
// The first number in a file, or -1 (absent, or "max": no limit).
std::int64_t file_number(const char* path) {
  std::ifstream in(path);
  std::int64_t v = -1;
  if (!(in >> v)) return -1;
  return v;
}

// What this process's memory cgroup still allows (its limit less its usage), or -1 where
// there is no limit: in a container the limit can be far below the machine's free memory.
std::int64_t cgroup_memory_left() {
  for (const auto& [limit_path, usage_path] :
       {std::pair{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},                              // v2
        std::pair{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {  // v1
    const std::int64_t limit = file_number(limit_path), usage = file_number(usage_path);
    // v1 says "no limit" with a number near 2^63.
    if (limit > 0 && usage >= 0 && limit < (std::int64_t{1} << 60)) return std::max<std::int64_t>(0, limit - usage);
  }
  return -1;
}
}  // namespace

std::int64_t available_memory_bytes() {
  const std::int64_t kib = proc_kib("/proc/meminfo", "MemAvailable");
  const std::int64_t machine = kib < 0 ? -1 : kib * 1024, cgroup = cgroup_memory_left();
  if (machine < 0 || cgroup < 0) return std::max(machine, cgroup);
  return std::min(machine, cgroup);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string utc_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json provenance_json() {
  nlohmann::json p;
  p["tool"] = "dsa-bench";
  p["tool_version"] = DSA_VERSION;
  p["git_commit"] = build_info::git_commit();
  p["git_dirty"] = build_info::git_dirty();
  p["timestamp_utc"] = utc_timestamp();
  p["host"] = host_name();
  p["cpu_model"] = cpu_model();
  p["hardware_threads"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  p["threads"] = max_threads();
#if defined(__clang__)
  p["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  p["compiler"] = std::string("gcc ") + __VERSION__;
#else
  p["compiler"] = "unknown";
#endif
  p["build_type"] = DSA_BUILD_TYPE;
  p["cuda_backend_built"] = built_with_cuda();
  std::string why;
  const int n = cuda_device_count(&why);
  nlohmann::json devices = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    if (auto d = cuda_device_info(i)) {
      devices.push_back({{"index", d->index},
                         {"name", d->name},
                         {"sm_count", d->sm_count},
                         {"compute_capability", std::to_string(d->cc_major) + "." + std::to_string(d->cc_minor)},
                         {"memory_bytes", d->memory_bytes},
                         {"sm_clock_khz", d->sm_clock_khz},
                         {"memory_clock_khz", d->memory_clock_khz},
                         {"memory_bus_bits", d->memory_bus_bits},
                         {"l2_bytes", d->l2_bytes},
                         {"driver_version", d->driver_version},
                         {"runtime_version", d->runtime_version}});
    }
  }
  p["cuda_devices"] = devices;
  if (n == 0) p["cuda_note"] = why;
  return p;
}

}  // namespace dsa::bench
