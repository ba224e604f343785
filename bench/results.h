// The results file (schema "dsa-bench-results", version 1). The whole document is
// rewritten after every finished case (and every finished sweep point) to a
// temporary file that then replaces the target with rename(2): a reader never sees
// a half-written file, and an interrupted run keeps every case that finished.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace dsa::bench {

inline constexpr int kResultsSchemaVersion = 1;

class ResultsFile {
 public:
  // Writes the header at once, so a bad path fails before any case runs.
  ResultsFile(std::string path, nlohmann::json provenance, nlohmann::json suite);
  // An existing results file, as it is (std::runtime_error naming the file when it
  // cannot be read or is not a dsa-bench results file of this schema version).
  static std::unique_ptr<ResultsFile> open(const std::string& path);

  // Sets a top-level field (e.g. "device_ceilings") and writes the file.
  void set(const std::string& key, const nlohmann::json& value);
  // Sets (or replaces, by name) a case's record and writes the file.
  void put_case(const nlohmann::json& record);
  // Marks the run complete (or interrupted) with its summary and writes the file.
  void finish(const std::string& run_status, const nlohmann::json& summary);
  // The run is being ended from outside (SIGTERM, e.g. a time limit): marks it
  // interrupted, and any case still running as interrupted with `why`, and writes the
  // file. Safe to call from another thread while the run goes on.
  void abandon(const std::string& why);

  // Goes on with an earlier run (`run --resume`, or a new worker process after a crash):
  // drops the cases it left running or interrupted (they run again), marks the run
  // running and adds `note` (when, why) to provenance.resumed with the number of cases
  // kept and the time the earlier processes ran (duration_s_before). Writes the file.
  void reopen(const nlohmann::json& note);

  const nlohmann::json& document() const { return doc_; }

 private:
  ResultsFile() = default;
  void write() const;
  std::string path_;
  nlohmann::json doc_;
  mutable std::mutex mu_;  // the run's thread and the termination watcher
};

}  // namespace dsa::bench
