// Fake service processes and what a jobs test reads back (tests/support/fakes.hpp).
#include "tests/support/fakes.hpp"

#include <signal.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/eventually.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

bool at(simdjson::dom::element root, std::string_view pointer, simdjson::dom::element& out) {
  if (pointer.empty()) {
    out = root;
    return true;
  }
  return root.at_pointer(pointer).get(out) == simdjson::SUCCESS;
}
}  // namespace

Json::Json(std::string_view text) : parser_(std::make_unique<simdjson::dom::parser>()) {
  ok_ = parser_->parse(simdjson::padded_string(text)).get(root_) == simdjson::SUCCESS;
}

std::string Json::str(std::string_view pointer) const {
  simdjson::dom::element e;
  if (!ok_ || !at(root_, pointer, e)) return {};
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  return simdjson::minify(e);
}

bool Json::has(std::string_view pointer) const {
  simdjson::dom::element e;
  return ok_ && at(root_, pointer, e);
}

double Json::num(std::string_view pointer) const {
  simdjson::dom::element e;
  if (!ok_ || !at(root_, pointer, e)) return std::nan("");
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS) return d;
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return std::strtod(std::string(s).c_str(), nullptr);
  return std::nan("");
}

bool Json::is_true(std::string_view pointer) const {
  simdjson::dom::element e;
  bool v = false;
  return ok_ && at(root_, pointer, e) && e.get_bool().get(v) == simdjson::SUCCESS && v;
}

Fake::Fake(const std::string& name, const std::string& control_json) {
  control(control_json);
  child_ = std::make_unique<Child>(
      std::vector<std::string>{"/usr/bin/python3", std::string(BH_SOURCE_DIR) + "/tests/support/fakes/" + name + "_fake.py",
                               dir_.path()},
      dir_.file("output.log"));
  port_ = wait_port_file(dir_.file("port"), *child_);
}

Fake::~Fake() {
  if (child_ && child_->running() && !stop()) {
    child_->signal(SIGKILL);
    child_->wait(5000ms);
  }
}

void Fake::control(const std::string& json) {
  {
    std::ofstream f(dir_.file("control.tmp"), std::ios::trunc);
    f << json;
  }
  std::rename(dir_.file("control.tmp").c_str(), dir_.file("control.json").c_str());
}

void Fake::touch(const std::string& name) { std::ofstream(dir_.file(name)).close(); }

std::vector<Json> Fake::log() const {
  std::vector<Json> out;
  std::istringstream in(log_text());
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.emplace_back(l);
  return out;
}

std::string Fake::log_text() const { return read_file(dir_.file("requests.log")); }
std::string Fake::output() const { return read_file(dir_.file("output.log")); }

bool Fake::stop() {
  if (!child_) return false;
  child_->signal(SIGTERM);
  auto code = child_->wait(5000ms);
  return code && *code == 0;
}

bool delivered_all(const Bulkhead& b, std::int64_t at_least) {
  auto rows = query_rows(b.db_path(), "SELECT (SELECT count(*) FROM events) || ' ' || (SELECT ifnull(max(seq), 0) FROM events) || ' ' || "
                            "(SELECT ifnull(min(cursor), -1) FROM sinks)");
  if (rows.size() != 1) return false;
  long long count = 0, last = 0, cursor = 0;
  if (std::sscanf(rows[0].c_str(), "%lld %lld %lld", &count, &last, &cursor) != 3) return false;
  return count >= at_least && cursor >= last;
}

std::size_t code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace bh::test
