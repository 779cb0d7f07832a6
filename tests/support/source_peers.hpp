// Helpers for integration tests of the pulled sources: a Python peer (tests/support/peers/*.py)
// started per test in its own scratch directory, reads of /metrics and of the store, the console,
// and the clean-stop check every source test ends with. Not a fake of any service: the peers'
// scripts are what behave like servers; this only starts them and reads what they logged.
#pragma once
#include <sqlite3.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/census.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/files.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {

// A Python peer started for one test, in its own scratch directory; killed at the end.
class PyPeer {
 public:
  // `tls`: {certificate, key} to serve TLS with.
  PyPeer(const std::string& script, const std::string& mode, const std::vector<std::string>& tls = {}) {
    set_mode(mode);
    std::vector<std::string> argv{"/usr/bin/python3", std::string(BH_SOURCE_DIR) + "/tests/support/peers/" + script,
                                  dir_.path()};
    argv.insert(argv.end(), tls.begin(), tls.end());
    child_ = std::make_unique<Child>(argv, dir_.file("peer.log"));
    port_ = wait_port_file(dir_.file("port"), *child_);
  }
  ~PyPeer() {
    if (child_ && child_->running()) {
      child_->signal(SIGKILL);
      child_->wait(std::chrono::milliseconds(5000));
    }
  }
  void set_mode(const std::string& m) {
    std::ofstream f(dir_.file("mode.tmp"));
    f << m << "\n";
    f.close();
    std::rename(dir_.file("mode.tmp").c_str(), dir_.file("mode").c_str());
  }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> log_lines(const std::string& name) const {
    std::vector<std::string> out;
    std::istringstream in(read_file(dir_.file(name)));
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  std::string log() const { return read_file(dir_.file("peer.log")); }
  std::string file(const std::string& name) const { return dir_.file(name); }

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

// GET over a fresh connection; the whole answer (HTTP/1.0: the server closes).
inline std::string http_get(std::uint16_t port, const std::string& path) {
  LineClient c;
  if (!c.connect(port)) return {};
  c.send("GET " + path + " HTTP/1.0\r\nHost: t\r\n\r\n");
  std::string all;
  while (auto l = c.read_line(std::chrono::milliseconds(2000))) all += *l + "\n";
  return all;
}

// The value of one sample of /metrics, e.g. metric(b, "bulkhead_source_events_total{source=\"p\"}").
inline double metric(const Bulkhead& b, const std::string& sample) {
  std::string m = http_get(b.admin_port(), "/metrics");
  auto at = m.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(m.substr(at + sample.size() + 2));
}

inline std::vector<std::string> query_rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return rows;
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      rows.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

inline std::string console_sock(const Bulkhead& b) { return b.dir() + "/var/console.sock"; }
inline std::pair<int, std::string> console(const Bulkhead& b, const std::vector<std::string>& cmd) {
  std::vector<std::string> args{"console", "--socket", console_sock(b)};
  args.insert(args.end(), cmd.begin(), cmd.end());
  return run_bulkhead(args);
}

// Lines of the peer's events.log that contain every one of `parts`.
inline std::size_t peer_events(const PyPeer& p, std::initializer_list<std::string> parts) {
  std::size_t n = 0;
  for (const auto& l : p.log_lines("events.log")) {
    bool all = true;
    for (const auto& part : parts) all = all && l.find(part) != std::string::npos;
    n += all ? 1 : 0;
  }
  return n;
}

}  // namespace bh::test
