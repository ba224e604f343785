#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/json_keys.h"

namespace dsa::model {

using nlohmann::json;

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "F32";
    case StDtype::BF16: return "BF16";
    case StDtype::F8_E4M3: return "F8_E4M3";
  }
  return "?";
}

std::size_t st_dtype_bytes(StDtype d) {
  switch (d) {
    case StDtype::F32: return 4;
    case StDtype::BF16: return 2;
    case StDtype::F8_E4M3: return 1;
  }
  return 0;
}

std::int64_t StTensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

StDtype parse_st_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return StDtype::F32;
  if (s == "BF16") return StDtype::BF16;
  if (s == "F8_E4M3") return StDtype::F8_E4M3;
  throw CheckpointError(where + ": unknown dtype \"" + s + "\" (supported: F32, BF16, F8_E4M3)");
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile);
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw CheckpointError(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw CheckpointError(path + ": cannot stat");
  }
  f->size_ = static_cast<std::size_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    throw CheckpointError(path + ": truncated: " + std::to_string(f->size_) + " bytes, not even the 8-byte header length");
  }
  f->map_ = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (f->map_ == MAP_FAILED) {
    f->map_ = nullptr;
    throw CheckpointError(path + ": cannot map (" + std::strerror(errno) + ")");
  }
  const auto* base = static_cast<const std::uint8_t*>(f->map_);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > f->size_ - 8)
    throw CheckpointError(path + ": header of " + std::to_string(n) + " bytes is longer than the file (" +
                          std::to_string(f->size_) + " bytes): truncated or not safetensors");
  json header;
  try {
    header = parse_json_unique_keys(reinterpret_cast<const char*>(base + 8), reinterpret_cast<const char*>(base + 8 + n));
  } catch (const json::parse_error& e) {
    throw CheckpointError(path + ": header is not valid JSON (" + e.what() + ")");
  } catch (const DuplicateKeyError& e) {
    // A tensor named twice: which entry holds its data?
    throw CheckpointError(path + ": header: " + e.what());
  }
  if (!header.is_object()) throw CheckpointError(path + ": header is not a JSON object");
  const std::uint8_t* data = base + 8 + n;
  const std::size_t data_bytes = f->size_ - 8 - n;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  std::vector<std::string> range_names;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor \"" + name + "\"";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw CheckpointError(where + ": expected {dtype, shape, data_offsets: [begin, end]}");
    StTensor t;
    t.name = name;
    t.dtype = parse_st_dtype(v["dtype"].get<std::string>(), where);
    // The element count is formed in unsigned 64-bit arithmetic with every product checked:
    // a shape such as [2^62, 4] would otherwise wrap to 0 elements and pass the size
    // check below with an empty data range.
    std::uint64_t elements = 1;
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<std::int64_t>() >= 0))
        throw CheckpointError(where + ": shape entries must be non-negative integers");
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(INT64_MAX))
        throw CheckpointError(where + ": shape entry " + std::to_string(dim) + " is above 2^63 - 1");
      overflow = overflow || __builtin_mul_overflow(elements, dim, &elements);
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    std::uint64_t want = 0;
    if (overflow || __builtin_mul_overflow(elements, static_cast<std::uint64_t>(st_dtype_bytes(t.dtype)), &want) ||
        want > static_cast<std::uint64_t>(INT64_MAX))
      throw CheckpointError(where + ": shape " + v["shape"].dump() + " of " + st_dtype_name(t.dtype) +
                            " needs more bytes than 2^63 - 1");
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw CheckpointError(where + ": data_offsets must be non-negative integers");
    const auto b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    if (e < b || e > data_bytes)
      throw CheckpointError(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                            ") out of range (the data section has " + std::to_string(data_bytes) + " bytes)");
    if (e - b != want)
      throw CheckpointError(where + ": " + std::to_string(e - b) + " bytes of data for shape and dtype needing " +
                            std::to_string(want));
    t.data = data + b;
    t.bytes = static_cast<std::size_t>(want);
    ranges.emplace_back(b, e);
    range_names.push_back(name);
    f->tensors_.emplace(name, std::move(t));
  }
  // No two tensors may share bytes.
  std::vector<std::size_t> order(ranges.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
  for (std::size_t i = 1; i < order.size(); ++i)
    if (ranges[order[i]].first < ranges[order[i - 1]].second && ranges[order[i]].second > ranges[order[i]].first)
      throw CheckpointError(path + ": tensors \"" + range_names[order[i - 1]] + "\" and \"" + range_names[order[i]] +
                            "\" overlap");
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, size_);
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsWriter::add(const std::string& name, StDtype dtype, std::vector<std::int64_t> shape,
                            std::vector<std::uint8_t> bytes) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (bytes.size() != static_cast<std::size_t>(n) * st_dtype_bytes(dtype))
    throw CheckpointError("SafetensorsWriter: " + name + ": byte count does not match shape and dtype");
  total_ += bytes.size();
  items_.push_back({name, dtype, std::move(shape), std::move(bytes)});
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<std::int64_t> shape, const std::vector<float>& v) {
  std::vector<std::uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  add(name, StDtype::F32, std::move(shape), std::move(b));
}

std::vector<std::string> SafetensorsWriter::names() const {
  std::vector<std::string> n;
  for (const auto& i : items_) n.push_back(i.name);
  return n;
}

void SafetensorsWriter::write(const std::string& path) const {
  json header = {{"__metadata__", {{"format", "pt"}, {"writer", "dsa-bench"}}}};
  std::size_t off = 0;
  for (const auto& i : items_) {
    header[i.name] = {{"dtype", st_dtype_name(i.dtype)}, {"shape", i.shape}, {"data_offsets", {off, off + i.bytes.size()}}};
    off += i.bytes.size();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as writers do
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw CheckpointError(path + ": cannot write");
    std::uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& i : items_) out.write(reinterpret_cast<const char*>(i.bytes.data()), static_cast<std::streamsize>(i.bytes.size()));
    if (!out) throw CheckpointError(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& path) {
  auto c = std::make_shared<Checkpoint>();
  c->path_ = path;
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::map<std::string, std::string> expected;  // tensor -> file, from the index
  if (fs::is_directory(path)) {
    const fs::path index = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(index)) {
      std::ifstream in(index);
      json j;
      try {
        j = parse_json_unique_keys(in);
      } catch (const json::parse_error& e) {
        throw CheckpointError(index.string() + ": not valid JSON (" + e.what() + ")");
      } catch (const DuplicateKeyError& e) {
        throw CheckpointError(index.string() + ": " + e.what());
      }
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        throw CheckpointError(index.string() + ": expected a \"weight_map\" object");
      for (const auto& [t, f] : j["weight_map"].items()) {
        if (!f.is_string()) throw CheckpointError(index.string() + ": weight_map[\"" + t + "\"] is not a file name");
        expected[t] = f.get<std::string>();
        if (std::find(files.begin(), files.end(), f.get<std::string>()) == files.end()) files.push_back(f.get<std::string>());
      }
    } else if (fs::exists(fs::path(path) / "model.safetensors")) {
      files.push_back("model.safetensors");
    } else {
      throw CheckpointError(path + ": neither model.safetensors.index.json nor model.safetensors is there");
    }
    for (auto& f : files) f = (fs::path(path) / f).string();
  } else {
    files.push_back(path);
  }
  for (const auto& f : files) c->files_.push_back(SafetensorsFile::open(f));
  for (const auto& f : c->files_)
    for (const auto& [name, t] : f->tensors()) {
      if (c->index_.count(name)) throw CheckpointError(path + ": tensor \"" + name + "\" appears in two files");
      c->index_[name] = &t;
    }
  for (const auto& [t, f] : expected) {
    const auto it = c->index_.find(t);
    if (it == c->index_.end())
      throw CheckpointError(path + ": the index places tensor \"" + t + "\" in " + f + ", which does not hold it");
  }
  return c;
}

const StTensor* Checkpoint::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const StTensor& Checkpoint::get(const std::string& name) const {
  if (const StTensor* t = find(name)) return *t;
  throw CheckpointError(path_ + ": missing tensor \"" + name + "\"");
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> n;
  for (const auto& [k, v] : index_) n.push_back(k);
  return n;
}

}  // namespace dsa::model
