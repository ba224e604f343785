// Loading and validating suite files. Every problem is reported before any case
// runs, as "FILE: case "NAME" (#N): field "F": expected ..., got ...".
#pragma once

#include <stdexcept>
#include <string>

#include "bench/case_spec.h"

namespace dsa::bench {

class SuiteError : public std::runtime_error {
 public:
  explicit SuiteError(const std::string& what) : std::runtime_error(what) {}
};

// Reads and validates a suite file; throws SuiteError on any problem.
Suite load_suite(const std::string& path);
// The same from text (`path` is used in messages only).
Suite parse_suite(const std::string& text, const std::string& path);

}  // namespace dsa::bench
