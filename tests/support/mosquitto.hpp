// A real Mosquitto broker for the MQTT tests (Debian's `mosquitto`, test-only: toolchain/deps.sh)
// and a recording subscriber (`mosquitto_sub`). The broker listens on a free loopback port with
// persistence on in its own scratch directory (saved every second: a SIGKILL loses what the
// broker took in its last second and had not passed on; saving on every change is ~100x slower), queues without a limit for offline persistent sessions, and may
// require a password (a file made with `mosquitto_passwd -b`). Every wait polls with a deadline.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {

class TlsCerts;

// True when the broker and its clients are installed (tests skip otherwise, saying why).
bool have_mosquitto();

struct MosquittoOptions {
  std::string username;  // non-empty: anonymous clients are refused, this user/password is the only one
  std::string password;
  // Non-null: a second listener on another free loopback port speaks TLS with the test PKI's
  // server certificate (CN/SAN localhost, 127.0.0.1); tls_url() names it. Must outlive the broker.
  const TlsCerts* tls = nullptr;
};

class Mosquitto {
 public:
  explicit Mosquitto(MosquittoOptions o = {});
  ~Mosquitto();
  // Starts `mosquitto -c` and waits (deadline) until the port accepts. Same port on a restart.
  bool start();
  // SIGTERM (persistence saved) or SIGKILL; waits for the exit.
  void stop();
  void kill9();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t tls_port() const { return tls_port_; }
  std::string tls_url() const { return "mqtts://localhost:" + std::to_string(tls_port_); }
  std::string log() const;
  const std::string& dir() const { return dir_.path(); }

 private:
  MosquittoOptions opts_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;  // 0: no TLS listener
  std::unique_ptr<Child> child_;
};

// `mosquitto_sub -v -q 1 -c -i <id> -t <filter>`: a persistent QoS 1 subscriber whose lines
// ("topic payload") go to a file; seqs() parses the envelopes' "seq" fields.
class Subscriber {
 public:
  // show_qos: lines are "topic q<QoS as received> payload".
  Subscriber(const Mosquitto& broker, const std::string& filter, const std::string& id = "bh-test-sub",
             bool show_qos = false);
  ~Subscriber();
  // Waits until the broker logged this client's SUBSCRIBE.
  bool ready(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // Waits until the broker saved its database after this subscription (autosave, every second):
  // a broker killed from then on still knows the session when it comes back.
  bool persisted(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // Every line so far (complete lines only).
  std::vector<std::string> lines() const;
  // seq -> times seen, from every line's `"seq":N`.
  std::map<std::uint64_t, int> seqs() const;
  // True once `n` distinct seqs were seen.
  bool wait_distinct(std::size_t n, std::chrono::milliseconds timeout);

 private:
  const Mosquitto& broker_;
  std::string id_;
  TempDir dir_;
  std::unique_ptr<Child> child_;
};

}  // namespace bh::test
