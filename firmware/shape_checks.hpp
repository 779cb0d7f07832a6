// Start-up checks the config loader runs on filter expressions and templates: each is compiled once
// to see whether it compiles, and the compiled form is thrown away (the application compiles its
// own). Not a cache. In a file of their own so that config.cpp need not include the shape headers:
// they bring simdjson, whose <iomanip> puts std::quoted next to the loader's quoted() by ADL.
#pragma once
#include <string>
#include <string_view>

namespace bh {

// "" when `expr` compiles as a filter (platform/shape/filter.hpp), else "column N: why".
std::string filter_problem(std::string_view expr);
// "" when `text` compiles as a text template (platform/shape/template.hpp), else "column N: why".
std::string text_template_problem(std::string_view text);

}  // namespace bh
