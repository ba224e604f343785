// `dsa-bench dump`: one case's inputs and reference outputs as .npy files plus a
// manifest.json (shapes, dtypes, roles, parameters, seed), so NumPy, PyTorch or any
// other implementation can check the same numbers independently.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/case_spec.h"
#include "core/npy.h"
#include "core/tensor.h"

namespace dsa::bench {

class DumpSink {
 public:
  explicit DumpSink(std::string dir) : dir_(std::move(dir)) {}

  template <class T>
  void put(const std::string& name, const HostTensor<T>& t, const std::string& role, const std::string& what) {
    write_npy(dir_ + "/" + name + ".npy", t.shape().to_vector(), t.data());
    add(name, npy_descr<T>(), t.shape().to_vector(), role, what);
  }
  template <class T>
  void put(const std::string& name, const std::vector<T>& v, const std::string& role, const std::string& what) {
    const std::vector<std::int64_t> shape{static_cast<std::int64_t>(v.size())};
    write_npy(dir_ + "/" + name + ".npy", shape, v.data());
    add(name, npy_descr<T>(), shape, role, what);
  }
  void note(const std::string& key, nlohmann::json value) { notes_[key] = std::move(value); }
  const nlohmann::json& files() const { return files_; }
  const nlohmann::json& notes() const { return notes_; }

 private:
  void add(const std::string& name, const char* descr, const std::vector<std::int64_t>& shape, const std::string& role,
           const std::string& what) {
    files_[name] = {{"file", name + ".npy"}, {"dtype", descr}, {"shape", shape}, {"role", role}, {"description", what}};
  }
  std::string dir_;
  nlohmann::json files_ = nlohmann::json::object();
  nlohmann::json notes_ = nlohmann::json::object();
};

// Writes the case's files into `dir` (created if needed). `context` picks the sweep
// point of a dsa_vs_dense case (0: its first context). Returns the manifest.
nlohmann::json dump_case(const CaseSpec& c, std::uint64_t run_seed, std::int64_t context, const std::string& dir,
                         const std::string& suite_path);

// The inputs of one sweep point (sequence 0) and their reference outputs.
void dump_sweep_point(const CaseSpec& c, std::uint64_t seed, std::int64_t context, DumpSink& sink);

}  // namespace dsa::bench
