// Whole-file reads and writes for tests (scratch files, logs, audit trails): bytes as they are.
// Not for product code (no error reporting beyond an empty string).
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace bh::test {

// The file's bytes; empty if it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Replaces the file's content (creates it).
inline void write_file(const std::string& path, std::string_view content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

}  // namespace bh::test
