#include "model/json_keys.h"

#include <set>
#include <vector>

namespace dsa::model {
namespace {

using json = nlohmann::json;

// Follows the parser's callbacks with a stack of the open objects and arrays: the keys an
// object has had so far and, for the location in messages, each level's current key or
// element index.
class KeyTracker {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: levels_.push_back({false, 0, {}, {}}); break;
      case json::parse_event_t::array_start: levels_.push_back({true, 0, {}, {}}); break;
      case json::parse_event_t::key: {
        Level& top = levels_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second && duplicate_.empty())
          duplicate_ = "key \"" + top.key + "\" given twice in " + location();
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        levels_.pop_back();
        element_done();
        break;
      case json::parse_event_t::value: element_done(); break;
    }
    return true;  // keep every value: this only watches
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Level {
    bool array;
    std::size_t index;
    std::set<std::string> keys;
    std::string key;
  };
  void element_done() {
    if (!levels_.empty() && levels_.back().array) ++levels_.back().index;
  }
  // The innermost object's place: "the top level", "cases[2]", "defaults.timing".
  std::string location() const {
    std::string where;
    for (std::size_t i = 0; i + 1 < levels_.size(); ++i) {
      const Level& l = levels_[i];
      // Appended piece by piece: "[" + std::to_string(...) trips a false -Wstringop-overflow
      // in GCC 12's inlined string code.
      if (l.array) {
        where += '[';
        where += std::to_string(l.index);
        where += ']';
      } else {
        if (!where.empty()) where += '.';
        where += l.key;
      }
    }
    return where.empty() ? "the top level" : where;
  }
  std::vector<Level> levels_;
  std::string duplicate_;
};

template <typename... Input>
json parse_checked(Input&&... in) {
  KeyTracker tracker;
  json j = json::parse(std::forward<Input>(in)...,
                       [&tracker](int depth, json::parse_event_t e, json& parsed) { return tracker(depth, e, parsed); });
  if (!tracker.duplicate().empty()) throw DuplicateKeyError(tracker.duplicate());
  return j;
}

}  // namespace

json parse_json_unique_keys(const std::string& text) { return parse_checked(text); }
json parse_json_unique_keys(std::istream& in) { return parse_checked(in); }
json parse_json_unique_keys(const char* begin, const char* end) { return parse_checked(begin, end); }

}  // namespace dsa::model
