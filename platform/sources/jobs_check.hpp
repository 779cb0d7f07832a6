// The check of a source's job keys (select, decode, dedupe_key, filter) that the config loader
// runs, so that a bad pointer or filter is a config error with file, line and key. A header of
// its own without simdjson, for the loader. Source::prepare() runs the same check. Start-up only.
#pragma once
#include <span>
#include <string>
#include <string_view>

namespace bh {

struct SourceJobKeys {
  bool http_poll = true;
  std::string_view split;
  std::string_view select;
  std::span<const std::string> decode;
  std::span<const std::string> dedupe_key;
  std::string_view filter;
};

// "" if the keys are good; else the problem, and `key` names the key ("select", "decode[1]",
// "dedupe_key[0]", "filter").
std::string source_jobs_problem(const SourceJobKeys& k, std::string& key);

}  // namespace bh
