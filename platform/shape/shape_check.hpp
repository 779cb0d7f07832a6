// Start-up checks of shaping text without pulling simdjson into the caller: the config loader
// compiles a `filter` expression, a JSON `body` template or a text `send` template through these,
// throws the compiled form away and reports the reason under the key. Not a cache: the sink and
// the source compile their own in prepare() (filter.hpp, template.hpp). In a file of their own
// because simdjson brings <iomanip>, whose std::quoted meets the loader's quoted() by ADL.
#pragma once
#include <string>
#include <string_view>

namespace bh {

// "" when `text` compiles as a filter expression, else "column N: why".
std::string filter_problem(std::string_view text);
// "" when `text` compiles as a JSON template, else "line L, column C: why".
std::string json_template_problem(std::string_view text);
// "" when `text` compiles as a text template, else "column N: why".
std::string text_template_problem(std::string_view text);

}  // namespace bh
