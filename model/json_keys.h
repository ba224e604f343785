// JSON parsing that refuses a key given twice in one object. nlohmann::json::parse keeps
// the last value without a word, so a suite case with "context" twice, a config.json with
// a key pasted in again or a safetensors header naming a tensor twice would run with one
// of the two values and nothing would say which. The project reads every file a user
// writes or brings (suites, config.json, checkpoints) through this.
#pragma once

#include <istream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace dsa::model {

// A key given twice; what() names the key and the object holding it, e.g.
// `key "topk" given twice in cases[2]`. Callers add the file's name.
class DuplicateKeyError : public std::runtime_error {
 public:
  explicit DuplicateKeyError(const std::string& what) : std::runtime_error(what) {}
};

// As nlohmann::json::parse (its parse_error for text that is not JSON), plus
// DuplicateKeyError for the first key given twice in one object.
nlohmann::json parse_json_unique_keys(const std::string& text);
nlohmann::json parse_json_unique_keys(std::istream& in);
nlohmann::json parse_json_unique_keys(const char* begin, const char* end);

}  // namespace dsa::model
