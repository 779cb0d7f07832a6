// Start-up checks of filter expressions and text templates for the config loader.
#include "firmware/shape_checks.hpp"

#include "platform/shape/filter.hpp"
#include "platform/shape/template.hpp"

namespace bh {

std::string filter_problem(std::string_view expr) {
  Filter f;
  FilterError e;
  return Filter::compile(expr, f, e) ? std::string() : e.text();
}

std::string text_template_problem(std::string_view text) {
  Template t;
  TemplateError e;
  return Template::compile(text, TemplateKind::text, t, e) ? std::string() : e.what();
}

}  // namespace bh
