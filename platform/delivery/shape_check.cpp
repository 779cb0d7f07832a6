// shape_check: compile and throw away.
#include "platform/delivery/shape_check.hpp"

#include "platform/shape/filter.hpp"
#include "platform/shape/template.hpp"

namespace bh {

std::string filter_problem(std::string_view text) {
  Filter f;
  FilterError e;
  return Filter::compile(text, f, e) ? std::string() : e.text();
}

std::string json_template_problem(std::string_view text) {
  Template t;
  TemplateError e;
  return Template::compile(text, TemplateKind::json, t, e) ? std::string() : e.what();
}

}  // namespace bh
