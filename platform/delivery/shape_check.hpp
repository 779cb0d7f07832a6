// Start-up checks of a sink's (or source's) shaping text without pulling simdjson into the caller:
// the config loader compiles a `filter` expression and a JSON `body` template through these and
// reports the reason under the key. Not the compiled objects: the sink compiles its own in
// prepare() (platform/shape/filter.hpp, template.hpp).
#pragma once
#include <string>
#include <string_view>

namespace bh {

// "" when `text` compiles as a filter expression, else "column N: why".
std::string filter_problem(std::string_view text);
// "" when `text` compiles as a JSON template, else "line L, column C: why".
std::string json_template_problem(std::string_view text);

}  // namespace bh
