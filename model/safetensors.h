// Safetensors checkpoints: a memory-mapped reader, a writer, and sharded checkpoints
// (several files and a model.safetensors.index.json). The format: an 8-byte
// little-endian header length N, N bytes of JSON {"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data, offsets being
// relative to its start. Every structural property is checked when a file is opened,
// so a bad file fails at once with a message naming it and the tensor, and nothing
// half-loaded is ever returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsa::model {

class CheckpointError : public std::runtime_error {
 public:
  explicit CheckpointError(const std::string& what) : std::runtime_error(what) {}
};

enum class StDtype { F32, BF16, F8_E4M3 };
const char* st_dtype_name(StDtype d);
std::size_t st_dtype_bytes(StDtype d);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data = nullptr;  // into the mapped file
  std::size_t bytes = 0;
  std::int64_t numel() const;
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::map<std::string, StTensor> tensors_;
};

class SafetensorsWriter {
 public:
  void add(const std::string& name, StDtype dtype, std::vector<std::int64_t> shape, std::vector<std::uint8_t> bytes);
  void add_f32(const std::string& name, std::vector<std::int64_t> shape, const std::vector<float>& values);
  std::size_t bytes() const { return total_; }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> names() const;
  // Writes to `path` (a temporary file first, then renamed).
  void write(const std::string& path) const;

 private:
  struct Item {
    std::string name;
    StDtype dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Item> items_;
  std::size_t total_ = 0;
};

// One .safetensors file, or a directory holding either model.safetensors or shards
// listed by model.safetensors.index.json ({"weight_map": {tensor: file}}).
class Checkpoint {
 public:
  static std::shared_ptr<Checkpoint> open(const std::string& path);
  const std::string& path() const { return path_; }
  const StTensor* find(const std::string& name) const;
  // Throws CheckpointError "missing tensor NAME in PATH" when absent.
  const StTensor& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> index_;
};

}  // namespace dsa::model
