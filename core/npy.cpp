#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace dsa {

void write_npy(const std::string& path, const std::string& descr, const std::vector<std::int64_t>& shape,
               const void* data, std::size_t bytes) {
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 1);  // "(3, 4)" but "(3,)"
  if (shape.empty()) dims.clear();
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write");
  const char magic[] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(magic, sizeof magic);
  const auto len = static_cast<std::uint16_t>(header.size());
  const char len_le[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
  out.write(len_le, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error(path + ": write failed");
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] != 1)
    throw std::runtime_error(path + ": not a version 1 .npy file");
  unsigned char len_le[2];
  in.read(reinterpret_cast<char*>(len_le), 2);
  std::string header(static_cast<std::size_t>(len_le[0] | (len_le[1] << 8)), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  std::smatch m;
  NpyArray a;
  if (!std::regex_search(header, m, std::regex("'descr': '([^']+)'"))) throw std::runtime_error(path + ": no descr");
  a.descr = m[1];
  if (!std::regex_search(header, m, std::regex("'shape': \\(([^)]*)\\)"))) throw std::runtime_error(path + ": no shape");
  const std::string dims = m[1];
  std::size_t n = 1, item = a.descr == "|u1" ? 1 : a.descr.back() == '8' ? 8 : 4;
  static const std::regex number("[0-9]+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    a.shape.push_back(std::stoll(it->str()));
    n *= static_cast<std::size_t>(a.shape.back());
  }
  a.data.resize(n * item);
  in.read(a.data.data(), static_cast<std::streamsize>(a.data.size()));
  if (!in) throw std::runtime_error(path + ": truncated data");
  return a;
}

}  // namespace dsa
