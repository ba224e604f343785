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

std::unique_ptr<ResultsFile> ResultsFile::open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::unique_ptr<ResultsFile> r(new ResultsFile());
  r->path_ = path;
  try {
    r->doc_ = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(path + ": not JSON (" + e.what() + ")");
  }
  const auto& d = r->doc_;
  if (!d.is_object() || d.value("schema", "") != "dsa-bench-results")
    throw std::runtime_error(path + ": not a dsa-bench results file (field \"schema\" is not \"dsa-bench-results\")");
  if (d.value("schema_version", 0) != kResultsSchemaVersion)
    throw std::runtime_error(path + ": field \"schema_version\" is " + d["schema_version"].dump() + ", this build writes " +
                             std::to_string(kResultsSchemaVersion));
  for (const char* key : {"provenance", "suite"})
    if (!d.contains(key) || !d[key].is_object())
      throw std::runtime_error(path + ": field \"" + key + "\" is missing or not an object");
  if (!d.contains("cases") || !d["cases"].is_array()) throw std::runtime_error(path + ": field \"cases\" is missing or not an array");
  return r;
}

void ResultsFile::reopen(const nlohmann::json& note) {
  const std::lock_guard<std::mutex> lock(mu_);
  // The time the earlier processes ran: the summary's where the last one finished, else
  // the sum of its case records' (it ended inside a case, so it wrote no summary).
  double before = 0;
  if (doc_.contains("summary") && doc_["summary"].contains("duration_s")) {
    before = doc_["summary"]["duration_s"].get<double>();
  } else {
    for (const auto& c : doc_["cases"]) before += c.value("duration_s", 0.0);
  }
  auto& cases = doc_["cases"];
  nlohmann::json kept = nlohmann::json::array();
  for (auto& c : cases) {
    const std::string st = c.value("status", "");
    if (st != "running" && st != "interrupted") kept.push_back(std::move(c));
  }
  cases = std::move(kept);
  doc_["run_status"] = "running";
  doc_.erase("summary");
  nlohmann::json n = note;
  n["kept_cases"] = doc_["cases"].size();
  n["duration_s_before"] = before;
  doc_["provenance"]["resumed"].push_back(n);
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
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());  // no stray FILE.tmp beside a results file that was never written
    throw std::runtime_error(path_ + ": cannot replace results file (" + why + ")");
  }
}

}  // namespace dsa::bench
