#include "platform/shape/shape_check.hpp"

#include "platform/shape/filter.hpp"
#include "platform/shape/template.hpp"

namespace bh {
namespace {

std::string template_problem(std::string_view text, TemplateKind kind) {
  Template t;
  TemplateError e;
  return Template::compile(text, kind, t, e) ? std::string() : e.what();
}

}  // namespace

std::string filter_problem(std::string_view text) {
  Filter f;
  FilterError e;
  return Filter::compile(text, f, e) ? std::string() : e.text();
}

std::string json_template_problem(std::string_view text) { return template_problem(text, TemplateKind::json); }
std::string text_template_problem(std::string_view text) { return template_problem(text, TemplateKind::text); }

}  // namespace bh
