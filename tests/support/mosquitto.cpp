// Mosquitto broker and subscriber fixtures (tests/support/mosquitto.hpp).
#include "tests/support/mosquitto.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/support/eventually.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
constexpr const char* kBroker = "/usr/sbin/mosquitto";
constexpr const char* kSub = "/usr/bin/mosquitto_sub";
constexpr const char* kPasswd = "/usr/bin/mosquitto_passwd";

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool port_accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

bool have_mosquitto() { return ::access(kBroker, X_OK) == 0 && ::access(kSub, X_OK) == 0 && ::access(kPasswd, X_OK) == 0; }

Mosquitto::Mosquitto(MosquittoOptions o) : opts_(std::move(o)), port_(free_port()) {
  std::ofstream c(dir_.file("mosquitto.conf"));
  // Run as root (a container's CI), mosquitto would drop to user `mosquitto` and could not write
  // its scratch directory: it stays who it is.
  c << "listener " << port_ << " 127.0.0.1\n" << (::geteuid() == 0 ? "user root\n" : "")
    << "persistence true\npersistence_location " << dir_.path() << "/\n"
    << "autosave_interval 1\n"
    << "max_queued_messages 0\nmax_inflight_messages 100\nset_tcp_nodelay true\n"
    << "log_dest file " << dir_.file("broker.log") << "\nlog_type error\nlog_type warning\nlog_type notice\n"
    << "log_type subscribe\nlog_type information\n";
  if (opts_.tls) {  // the listener's own settings follow its `listener` line
    do tls_port_ = free_port();
    while (tls_port_ == port_);
    c << "listener " << tls_port_ << " 127.0.0.1\ncafile " << opts_.tls->crt("ca") << "\ncertfile "
      << opts_.tls->crt("server") << "\nkeyfile " << opts_.tls->key("server") << "\n";
  }
  if (opts_.username.empty()) {
    c << "allow_anonymous true\n";
  } else {
    c << "allow_anonymous false\npassword_file " << dir_.file("passwd") << "\n";
    std::ofstream(dir_.file("passwd")).close();
    Child pw({kPasswd, "-b", dir_.file("passwd"), opts_.username, opts_.password}, dir_.file("passwd.log"));
    pw.wait(std::chrono::milliseconds(10000));
  }
}

Mosquitto::~Mosquitto() { stop(); }

bool Mosquitto::start() {
  child_ = std::make_unique<Child>(std::vector<std::string>{kBroker, "-c", dir_.file("mosquitto.conf")},
                                   dir_.file("stdout.log"), dir_.path());
  return eventually([&] { return port_accepts(port_) && (tls_port_ == 0 || port_accepts(tls_port_)); },
                    std::chrono::milliseconds(10000));
}

void Mosquitto::stop() {
  if (!child_) return;
  child_->signal(SIGTERM);
  if (!child_->wait(slow(std::chrono::milliseconds(10000)))) child_->signal(SIGKILL);
  child_.reset();
}

void Mosquitto::kill9() {
  if (!child_) return;
  child_->signal(SIGKILL);
  child_->wait(std::chrono::milliseconds(10000));
  child_.reset();
}

std::string Mosquitto::log() const { return read_file(dir_.file("broker.log")) + read_file(dir_.file("stdout.log")); }

Subscriber::Subscriber(const Mosquitto& broker, const std::string& filter, const std::string& id, bool show_qos)
    : broker_(broker), id_(id) {
  std::vector<std::string> args{kSub, "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-v", "-q", "1", "-c", "-i", id, "-t", filter};
  if (show_qos) args.insert(args.begin() + 5, {"-F", "%t q%q %p"});  // -F overrides -v
  child_ = std::make_unique<Child>(std::move(args), dir_.file("sub.out"));
}

Subscriber::~Subscriber() {
  child_->signal(SIGTERM);
  child_->wait(std::chrono::milliseconds(5000));
}

bool Subscriber::ready(std::chrono::milliseconds timeout) {
  // Mosquitto logs "<id> 1 <filter>" for a subscription (log_type subscribe).
  return eventually([&] { return broker_.log().find(id_ + " 1 ") != std::string::npos; }, timeout, std::chrono::milliseconds(20));
}

bool Subscriber::persisted(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        const std::string log = broker_.log();
        const auto sub = log.find(id_ + " 1 ");
        return sub != std::string::npos && log.find("Saving in-memory database", sub) != std::string::npos;
      },
      timeout, std::chrono::milliseconds(50));
}

std::vector<std::string> Subscriber::lines() const {
  std::string all = read_file(dir_.file("sub.out"));
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (std::size_t nl; (nl = all.find('\n', pos)) != std::string::npos; pos = nl + 1) out.push_back(all.substr(pos, nl - pos));
  return out;
}

std::map<std::uint64_t, int> Subscriber::seqs() const {
  std::map<std::uint64_t, int> out;
  for (const std::string& l : lines()) {
    auto p = l.find("\"seq\":");
    if (p == std::string::npos) continue;
    ++out[std::stoull(l.substr(p + 6))];
  }
  return out;
}

bool Subscriber::wait_distinct(std::size_t n, std::chrono::milliseconds timeout) {
  return eventually([&] { return seqs().size() >= n; }, timeout, std::chrono::milliseconds(50));
}

}  // namespace bh::test
