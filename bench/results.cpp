#include "bench/results.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace dsa::bench {

ResultsFile::ResultsFile(std::string path, nlohmann::json provenance, nlohmann::json suite)
    : path_(std::move(path)) {
  doc_ = {{"schema", "dsa-bench-results"},
          {"schema_version", kResultsSchemaVersion},
          {"run_status", "running"},
          {"provenance", std::move(provenance)},
          {"suite", std::move(suite)},
          {"cases", nlohmann::json::array()}};
  write();
}

void ResultsFile::set(const std::string& key, const nlohmann::json& value) {
  const std::lock_guard<std::mutex> lock(mu_);
  doc_[key] = value;
  write();
}

void ResultsFile::put_case(const nlohmann::json& record) {
  const std::lock_guard<std::mutex> lock(mu_);
  auto& cases = doc_["cases"];
  for (auto& c : cases)
    if (c["name"] == record["name"]) {
      c = record;
      write();
      return;
    }
  cases.push_back(record);
  write();
}

void ResultsFile::finish(const std::string& run_status, const nlohmann::json& summary) {
  const std::lock_guard<std::mutex> lock(mu_);
  doc_["run_status"] = run_status;
  doc_["summary"] = summary;
  write();
}

void ResultsFile::abandon(const std::string& why) {
  const std::lock_guard<std::mutex> lock(mu_);
  doc_["run_status"] = "interrupted";
  for (auto& c : doc_["cases"])
    if (c.value("status", "") == "running") {
      c["status"] = "interrupted";
      c["reason"] = why;
    }
  write();
}

void ResultsFile::write() const {
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path_ + ": cannot write results (" + std::strerror(errno) + ")");
    // NaN/inf have no JSON spelling; nlohmann writes them as null, which readers
    // must treat as "not a number" (the schema says so).
    out << doc_.dump(1) << '\n';
    out.flush();
    if (!out) throw std::runtime_error(tmp + ": write failed");
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0)
    throw std::runtime_error(path_ + ": cannot replace results file (" + std::strerror(errno) + ")");
}

}  // namespace dsa::bench
