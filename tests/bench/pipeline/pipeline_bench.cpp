// pipeline_bench: the end-to-end benchmark of bulkhead's main job (issue 3, "Benchmark").
//
// One command, per run:
//  1. SQLite's raw batched insert rate (WAL, synchronous=FULL, batches of 4096, 2048 and 1024;
//     2048 = 8 x 256 is the most one commit can gather under this load) in a scratch directory;
//  2. the real `bulkhead run` on a generated config: store and audit log in that same directory,
//     one loopback HTTP sink served by this process (BenchSink);
//  3. phase 1: N connections x W lines in flight of 200-byte JSON events, as fast as acks allow;
//  4. phase 2: rate-limited at half the end-to-end rate of phase 1 (the lower of the acked and the
//     delivered rates), for the latency figure; optional phase 3 (--floor-rate, e.g. 50 000 ev/s,
//     half the issue-3 floor); then the paced phases of --phases (issue 16: 100 and 1 ev/s by
//     default). Every phase reports p50/p99/p999 ack latency and the bytes written per event: the
//     process's /proc/<pid>/io write_bytes, SQLite's WAL and database bytes and the commits and
//     fsyncs (scraped from bulkhead's /metrics), the audit log's growth, and with --device the
//     block device's own sector counter (/sys/block/<dev>/stat: the filesystem journal included),
//     each also as GB per day at the phase's rate; and beside the latency, how long the machine
//     itself stood still (StallProbe: a VM's host stops its vCPUs) and the p99 of the acks that
//     met no such stall;
//  5. waits until the sink has every acked event and checks each one's payload and seq order,
//     reads bulkhead's peak RSS and FD count from /proc, stops it with SIGTERM and parses its
//     "stopped: N heap allocation(s) after seal" line.
// Figures are reported, never asserted: exit 1 only if the run itself broke (an acked event lost
// or misordered, a non-zero exit, a crash). With --runs K the whole cycle repeats on a fresh
// process and database and the median of each figure is reported.
//
//   pipeline_bench [--bulkhead PATH] [--seconds 20] [--runs 3] [--dir DIR] ...   (--help)
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/raw_sqlite.hpp"
#include "tests/bench/pipeline/bench_sink.hpp"
#include "tests/bench/pipeline/load_gen.hpp"
#include "tests/bench/pipeline/stall_probe.hpp"
#include "tests/support/poll.hpp"

#ifndef BH_BINARY
#define BH_BINARY ""
#endif

namespace {
using namespace bh::bench;
using Clock = std::chrono::steady_clock;
using bh::test::poll_until;

Clock::duration seconds_of(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

struct Options {
  std::string bulkhead = BH_BINARY;
  double seconds = 20;
  double half_seconds = -1;  // < 0: same as seconds
  double half_rate = 0;   // phase 2's fixed rate (comparing builds under a noisy load); 0 = half the e2e rate
  double floor_rate = 0;  // phase 3 (e.g. 50 000: half the issue-3 100 000 ev/s floor); 0 = skip
  std::vector<double> paced = {100, 1};  // further fixed-rate phases (issue 16)
  std::uint64_t max_events = 1'000'000;  // a phase window ends at this many acks or --seconds
  std::string device;                    // block device holding only the store (e.g. loop3): its sectors
  std::string commit_window;             // [store] commit_window (e.g. "50ms"); empty: bulkhead's default
  bool ack_log = false;                  // [store] ack_log = true
  double settle_seconds = 2.5;           // quiet time before each rate-limited phase
  double warmup = 1;
  std::uint32_t runs = 1;
  std::uint32_t connections = 8;
  std::uint32_t window = 256;
  std::uint32_t max_batch = 4096;
  std::string sync = "full";
  bool audit = true;
  std::string checkpoint_thread;  // "true" / "false"; empty: bulkhead's default
  std::uint32_t checkpoint_pages = 0;  // 0: bulkhead's default
  bool sync_thread = true;
  bool sink = true;
  std::uint32_t sink_batch_events = 4096;
  std::string sink_batch_bytes = "1MiB";
  std::uint32_t raw_events = 4096 * 50;
  bool raw = true;
  std::string dir;  // scratch base; default $BH_BENCH_DIR or the current directory
  bool keep = false;
  double catchup_seconds = 60;
};

void usage() {
  std::puts(
      "usage: pipeline_bench [options] [BULKHEAD_BINARY]\n"
      "  --bulkhead PATH       the bulkhead binary (Release build)\n"
      "  --seconds S           phase-1 (max rate) window, default 20\n"
      "  --half-seconds S      phase-2 (half rate) and phase-3 windows, default = --seconds\n"
      "  --half-rate R         phase-2 fixed rate instead of half the measured e2e rate (to compare\n"
      "                        builds on a busy machine); default 0 = half\n"
      "  --floor-rate R        phase-3 fixed rate (50000 = half the 100k ev/s floor); default 0 = skip\n"
      "  --phases LIST         further fixed-rate phases in ev/s, comma-separated, default 100,1; none = skip\n"
      "  --events N            a phase window also ends after N acks, default 1000000\n"
      "  --device DEV          block device holding only the store (loopN): bytes written at the device\n"
      "  --commit-window D     [store] commit_window, e.g. 50ms\n"
      "  --ack-log             [store] ack_log = true\n"
      "  --settle S            quiet seconds before each rate-limited phase (the last one's checkpoint\n"
      "                        lands in it), default 2.5\n"
      "  --warmup S            un-counted load before each window, default 1\n"
      "  --runs K              full cycles (fresh process + database); medians reported, default 1\n"
      "  --connections N       default 8\n"
      "  --window W            lines in flight per connection, default 256\n"
      "  --max-batch N         [store] max_batch, default 4096 (the compiled maximum)\n"
      "  --sync full|normal    [store] synchronous, default full\n"
      "  --no-audit            [audit] enabled = false\n"
      "  --checkpoint-thread   [store] checkpoint_thread = true (WAL checkpoints on their own thread)\n"
      "  --no-checkpoint-thread [store] checkpoint_thread = false (checkpoints inside commits)\n"
      "  --checkpoint-pages N  [store] checkpoint_pages = N\n"
      "  --no-sync-thread      [store] sync_thread = false (SQLite fsyncs inside each COMMIT)\n"
      "  --no-sink             no [[sink]] (store + ingest only; end-to-end figures are then n/a)\n"
      "  --sink-batch-events N [[sink]] batch_events, default 4096\n"
      "  --sink-batch-bytes S  [[sink]] batch_bytes, default 1MiB (the compiled buffer)\n"
      "  --raw-events N        events per raw SQLite measurement, default 204800; 0 = skip\n"
      "  --dir DIR             scratch base on the disk under test (default $BH_BENCH_DIR or .)\n"
      "  --keep                keep the scratch directories (config, bulkhead.log)\n");
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--bulkhead") o.bulkhead = next();
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--half-seconds") o.half_seconds = std::stod(next());
    else if (a == "--half-rate") o.half_rate = std::stod(next());
    else if (a == "--floor-rate") o.floor_rate = std::stod(next());
    else if (a == "--phases") {
      o.paced.clear();
      std::string l = next();
      for (std::size_t at = 0; l != "none" && at < l.size();) {
        std::size_t comma = l.find(',', at);
        if (comma == std::string::npos) comma = l.size();
        o.paced.push_back(std::stod(l.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (a == "--events") o.max_events = std::stoull(next());
    else if (a == "--device") o.device = next();
    else if (a == "--commit-window") o.commit_window = next();
    else if (a == "--ack-log") o.ack_log = true;
    else if (a == "--settle") o.settle_seconds = std::stod(next());
    else if (a == "--warmup") o.warmup = std::stod(next());
    else if (a == "--runs") o.runs = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--connections") o.connections = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--window") o.window = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--max-batch") o.max_batch = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--sync") o.sync = next();
    else if (a == "--no-audit") o.audit = false;
    else if (a == "--checkpoint-thread") o.checkpoint_thread = "true";
    else if (a == "--no-checkpoint-thread") o.checkpoint_thread = "false";
    else if (a == "--checkpoint-pages") o.checkpoint_pages = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--no-sync-thread") o.sync_thread = false;
    else if (a == "--no-sink") o.sink = false;
    else if (a == "--sink-batch-events") o.sink_batch_events = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--sink-batch-bytes") o.sink_batch_bytes = next();
    else if (a == "--raw-events") o.raw_events = static_cast<std::uint32_t>(std::stoul(next()));
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else if (a == "--catchup-seconds") o.catchup_seconds = std::stod(next());
    else if (!a.empty() && a[0] != '-') o.bulkhead = a;
    else {
      std::fprintf(stderr, "unknown option %s (try --help)\n", a.c_str());
      return false;
    }
  }
  if (o.half_seconds < 0) o.half_seconds = o.seconds;
  o.raw = o.raw_events > 0;
  if (o.connections == 0 || o.connections > 60 || o.window == 0 || o.runs == 0 || o.seconds <= 0 ||
      (o.sync != "full" && o.sync != "normal")) {
    std::fprintf(stderr, "bad option values (connections 1..60, window/runs >= 1, seconds > 0, sync full|normal)\n");
    return false;
  }
  if (o.bulkhead.empty()) {
    std::fprintf(stderr, "no bulkhead binary: pass --bulkhead PATH\n");
    return false;
  }
  if (o.dir.empty()) {
    const char* d = std::getenv("BH_BENCH_DIR");
    o.dir = d && *d ? d : ".";
  }
  return true;
}

// ---- /proc readings of another process -------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "VmHWM:     1234 kB" -> bytes; 0 if absent.
std::uint64_t status_kib(const std::string& status, const char* key) {
  auto at = status.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + std::strlen(key), nullptr, 10) * 1024;
}

int count_fds(int pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

double self_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The reactor thread's own (the main thread: tid == pid) {on-CPU ns, runqueue-wait ns}.
std::pair<double, double> reactor_sched_ns(int pid) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/schedstat"));
  double r = 0, w = 0;
  in >> r >> w;
  return {r, w};
}

// /proc/<pid>/schedstat summed over the process's threads: {on-CPU ns, runqueue-wait ns}.
std::pair<double, double> sched_ns(int pid) {
  double run = 0, wait = 0;
  const std::string base = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(base.c_str());
  if (!d) return {0, 0};
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(base + "/" + e->d_name + "/schedstat"));
    double r = 0, w = 0;
    in >> r >> w;
    run += r;
    wait += w;
  }
  ::closedir(d);
  return {run, wait};
}

// Machine-wide busy and total jiffies from /proc/stat's first line.
std::pair<double, double> machine_jiffies() {
  std::istringstream in(read_file("/proc/stat"));
  std::string cpu;
  in >> cpu;
  double v[10] = {};
  for (double& x : v) in >> x;
  double total = 0;
  for (int i = 0; i < 8; ++i) total += v[i];
  return {total - v[3] - v[4], total};  // minus idle and iowait
}

std::string loadavg() {
  std::string s = read_file("/proc/loadavg");
  std::istringstream in(s);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// /proc/<pid>/io write_bytes (what reached the block layer), 0 if unreadable.
std::uint64_t io_write_bytes(int pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/io");
  auto at = s.find("\nwrite_bytes:");
  return at == std::string::npos ? 0 : std::strtoull(s.c_str() + at + 13, nullptr, 10);
}

// Sectors written to a block device (/sys/block/<dev>/stat, 7th field) in bytes; 0 if unreadable.
std::uint64_t device_write_bytes(const std::string& dev) {
  if (dev.empty()) return 0;
  std::istringstream in(read_file("/sys/block/" + dev + "/stat"));
  std::uint64_t v[7] = {};
  for (auto& x : v) in >> x;
  return v[6] * 512;
}

// GET /metrics from bulkhead's admin port (blocking, bench only) -> value of each sample without labels.
std::map<std::string, double> scrape(std::uint16_t port) {
  std::map<std::string, double> m;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return m;
  }
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string body;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) body.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.find('{') != std::string::npos) continue;
    auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    m[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return m;
}

std::uint64_t file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// ---- the bulkhead child ----------------------------------------------------------------------

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

int spawn(const std::string& bin, const std::string& config, const std::string& cwd, const std::string& log) {
  std::string run = "run", flag = "--config";
  std::vector<char*> argv{const_cast<char*>(bin.c_str()), run.data(), flag.data(), const_cast<char*>(config.c_str()),
                          nullptr};
  int pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    for (int i = 3; i < 4096; ++i) ::close(i);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Exit code (128+signal if killed), or -1 on timeout.
int wait_exit(int pid, double seconds) {
  int code = -1;
  poll_until([&] {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) != pid) return false;
    code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }, seconds_of(seconds), std::chrono::milliseconds(10));
  return code;
}

// ---- figures ---------------------------------------------------------------------------------

double pct_ms(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return NAN;
  std::size_t k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

// The host's share of a phase (StallProbe): the time some CPU of this machine did not run, in % of
// the phase's span, and the p99 of the acks that met no such stall nor the backlog behind it
// ("calm"): about what bulkhead does on a machine that keeps running. Keys k + "stall_pct",
// k + "p99_calm_ms". Needs r.lat_ns in its recorded order.
void host_figures(std::map<std::string, double>& f, const std::string& k, const PhaseResult& r, const StallProbe& probe) {
  if (r.sent_ns.empty()) return;
  std::uint64_t t0 = ~0ull, t1 = 0;
  for (std::size_t i = 0; i < r.sent_ns.size(); ++i) {
    t0 = std::min(t0, r.sent_ns[i]);
    t1 = std::max(t1, r.sent_ns[i] + r.lat_ns[i]);
  }
  const auto stalls = probe.between(t0, t1);
  double stalled = 0;
  for (const auto& st : stalls) stalled += static_cast<double>(std::min(st.end_ns, t1) - std::max(st.begin_ns, t0));
  f[k + "stall_pct"] = 100 * stalled / static_cast<double>(t1 - t0);
  auto calm = outside_stalls(r.sent_ns, r.lat_ns, stalls);
  f[k + "p99_calm_ms"] = calm.size() >= 100 ? pct_ms(calm, 0.99) : NAN;
}

std::string fmt_num(double v, int decimals);

// Where the bytes went over one phase (warm-up, window and drain): read before and after.
struct WearMark {
  double proc = 0, dev = 0, wal = 0, db = 0, commits = 0, fsyncs = 0, audit = 0, acked = 0;
  double syncs = 0, sync_s = 0, checkpoints = 0;  // the WAL syncer's fdatasyncs and their time; checkpoints
};
// With a device: its filesystem is synced first (syncfs), so that what the last phase left dirty
// (checkpointed pages, the audit log, the journal) is counted in that phase, not the next.
WearMark wear_mark(int pid, const std::string& device, std::uint16_t admin, const std::string& dir, std::uint64_t acked) {
  WearMark w;
  if (!device.empty()) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::syncfs(fd);
      ::close(fd);
    }
  }
  w.proc = static_cast<double>(io_write_bytes(pid));
  w.dev = static_cast<double>(device_write_bytes(device));
  auto m = scrape(admin);
  w.wal = m["bulkhead_store_wal_write_bytes_total"];
  w.db = m["bulkhead_store_db_write_bytes_total"];
  w.commits = m["bulkhead_store_commits_total"];
  w.fsyncs = m["bulkhead_store_fsyncs_total"];
  w.syncs = m["bulkhead_store_wal_syncs_total"];
  w.sync_s = m["bulkhead_store_wal_sync_duration_seconds_sum"];
  w.checkpoints = m["bulkhead_store_checkpoints_total"];
  w.audit = static_cast<double>(file_bytes(dir + "/var/audit.log"));
  w.acked = static_cast<double>(acked);
  return w;
}

// The per-phase table: prefix of each phase's figures in RunResult::f, in report order.
struct PhaseFigure {
  const char* key;
  const char* label;
  int decimals;
};
const PhaseFigure kPhaseFigures[] = {
    {"target_rate", "target ev/s", 0}, {"acked_rate", "acked ev/s", 0}, {"p50_ms", "p50 ms", 2},
    {"p99_ms", "p99 ms", 2},           {"p999_ms", "p999 ms", 2},       {"proc_B_ev", "proc B/ev", 0},
    {"dev_B_ev", "dev B/ev", 0},       {"wal_B_ev", "WAL B/ev", 0},     {"db_B_ev", "db B/ev", 0},
    {"audit_B_ev", "audit B/ev", 0},   {"commits_ev", "commits/ev", 3}, {"fsyncs_ev", "fsyncs/ev", 3},
    {"proc_GB_day", "proc GB/day", 2}, {"dev_GB_day", "dev GB/day", 2}, {"sync_ms", "sync avg ms", 2},
    {"ckpt_s", "ckpt/s", 1},           {"rq_wait_pct", "rq wait %", 1}, {"stall_pct", "host stall %", 1},
    {"p99_calm_ms", "p99 calm ms", 2},
};

struct RunResult {
  bool ok = true;
  std::vector<std::string> problems;
  std::map<std::string, double> f;  // figure name -> value
  std::string log_tail;
};

// The figures in report order: key, label, unit, format.
struct Figure {
  const char* key;
  const char* label;
  const char* unit;
  int decimals;
};
const Figure kFigures[] = {
    {"raw_sqlite_4096", "raw SQLite insert rate, batch 4096, FULL", "ev/s", 0},
    {"raw_sqlite_2048", "raw SQLite insert rate, batch 2048, FULL", "ev/s", 0},
    {"raw_sqlite_1024", "raw SQLite insert rate, batch 1024, FULL", "ev/s", 0},
    {"raw_sqlite_1000", "raw SQLite insert rate, batch 1000, FULL", "ev/s", 0},
    {"acked_rate", "phase 1: acked (ok) rate, max load", "ev/s", 0},
    {"delivered_rate", "phase 1: delivered to sink in the window", "ev/s", 0},
    {"e2e_rate", "phase 1: end to end = min(acked, delivered)", "ev/s", 0},
    {"backlog_end", "phase 1: acked - delivered at window end", "events", 0},
    {"catchup_s", "phase 1: sink caught up after the window in", "s", 2},
    {"ratio_raw_4096", "acked rate / raw SQLite (batch 4096)", "x", 3},
    {"ratio_raw_2048", "acked rate / raw SQLite (batch 2048)", "x", 3},
    {"ratio_raw_1024", "acked rate / raw SQLite (batch 1024)", "x", 3},
    {"ratio_raw_1000", "acked rate / raw SQLite (batch 1000)", "x", 3},
    {"lat_p50_ms", "phase 1: ack latency p50", "ms", 2},
    {"lat_p99_ms", "phase 1: ack latency p99", "ms", 2},
    {"lat_p999_ms", "phase 1: ack latency p999", "ms", 2},
    {"half_target_rate", "phase 2: target rate (half the e2e rate)", "ev/s", 0},
    {"half_acked_rate", "phase 2: acked rate", "ev/s", 0},
    {"half_delivered_rate", "phase 2: delivered rate", "ev/s", 0},
    {"half_p50_ms", "phase 2: ack latency p50", "ms", 2},
    {"half_p99_ms", "phase 2: ack latency p99", "ms", 2},
    {"half_p999_ms", "phase 2: ack latency p999", "ms", 2},
    {"half_p99_sched_ms", "phase 2: p99 from scheduled send time", "ms", 2},
    {"half_behind_pct", "phase 2: lines sent > 1 ms late", "%", 2},
    {"floor_target_rate", "phase 3: target rate (half the 100k floor)", "ev/s", 0},
    {"floor_acked_rate", "phase 3: acked rate", "ev/s", 0},
    {"floor_delivered_rate", "phase 3: delivered rate", "ev/s", 0},
    {"floor_p50_ms", "phase 3: ack latency p50", "ms", 2},
    {"floor_p99_ms", "phase 3: ack latency p99", "ms", 2},
    {"floor_p999_ms", "phase 3: ack latency p999", "ms", 2},
    {"floor_p99_sched_ms", "phase 3: p99 from scheduled send time", "ms", 2},
    {"floor_behind_pct", "phase 3: lines sent > 1 ms late", "%", 2},
    {"peak_rss_mib", "bulkhead peak RSS (VmHWM)", "MiB", 2},
    {"max_fds", "bulkhead open FDs (max sampled)", "fds", 0},
    {"threads", "bulkhead threads", "", 0},
    {"allocs_after_seal", "heap allocations after seal (whole run)", "", 0},
    {"allocs_per_event", "heap allocations per acked event", "", 6},
    {"events_total", "events acked in the run (both phases)", "", 0},
    {"bh_cpu_pct", "phase 1: bulkhead CPU (100 = one core)", "%", 0},
    {"bh_wait_cpu_pct", "phase 1: bulkhead runnable, waiting for a CPU", "%", 0},
    {"bh_reactor_cpu_pct", "phase 1: of it, the reactor thread", "%", 0},
    {"bh_blocked_pct", "phase 1: reactor thread blocked (fsync, idle poll)", "%", 0},
    {"bh_cpu_us_per_event", "phase 1: bulkhead CPU per acked event", "us", 2},
    {"acked_rate_free_core", "phase 1: est. acked rate without the CPU wait", "ev/s", 0},
    {"gen_cpu_pct", "phase 1: load generator + sink CPU", "%", 0},
    {"machine_busy_pct", "phase 1: whole machine busy (all cores)", "%", 0},
    {"bh_write_mib_s", "phase 1: bulkhead disk writes", "MiB/s", 1},
    {"err_busy", "err busy replies (outbox at max_pending)", "", 0},
    {"sink_duplicates", "sink: duplicate envelopes (resends)", "", 0},
    {"sink_connections", "sink: connections bulkhead opened", "", 0},
    {"sink_requests", "sink: POSTs received", "", 0},
    {"exit_code", "bulkhead exit code after SIGTERM", "", 0},
};

std::string config_text(const Options& o, std::uint16_t ingest, std::uint16_t admin, std::uint16_t sink) {
  std::string t;
  t += "# generated by pipeline_bench\n";
  t += "[ingest]\nlisten = \"127.0.0.1:" + std::to_string(ingest) + "\"\n";
  t += "[store]\npath = \"./var/bulkhead.db\"\nsynchronous = \"" + o.sync + "\"\nmax_batch = " +
       std::to_string(o.max_batch) + "\nsync_thread = " + (o.sync_thread ? "true" : "false") + "\n";
  if (!o.checkpoint_thread.empty()) t += "checkpoint_thread = " + o.checkpoint_thread + "\n";
  if (o.checkpoint_pages) t += "checkpoint_pages = " + std::to_string(o.checkpoint_pages) + "\n";
  if (!o.commit_window.empty()) t += "commit_window = \"" + o.commit_window + "\"\n";
  if (o.ack_log) t += "ack_log = true\n";
  t += std::string("[audit]\nenabled = ") + (o.audit ? "true" : "false") + "\npath = \"./var/audit.log\"\n";
  t += "[admin]\nlisten = \"127.0.0.1:" + std::to_string(admin) + "\"\n";
  t += "[console]\nsocket = \"./var/console.sock\"\n";
  t += "[runtime]\nshutdown_grace = \"5s\"\n";
  if (o.sink)
    t += "[[sink]]\nname = \"bench\"\nurl = \"http://127.0.0.1:" + std::to_string(sink) +
         "/ingest\"\nbatch_events = " + std::to_string(o.sink_batch_events) + "\nbatch_bytes = \"" +
         o.sink_batch_bytes + "\"\n";
  return t;
}

RunResult run_once(const Options& o, int index) {
  RunResult rr;
  auto problem = [&](std::string s) {
    rr.ok = false;
    rr.problems.push_back(std::move(s));
  };
  std::string tmpl = o.dir + "/bh-pipeline-bench-XXXXXX";
  std::vector<char> tb(tmpl.begin(), tmpl.end());
  tb.push_back('\0');
  if (!::mkdtemp(tb.data())) {
    problem("cannot create a scratch directory under " + o.dir + ": " + std::strerror(errno));
    return rr;
  }
  const std::string dir = std::filesystem::absolute(tb.data()).string();
  std::filesystem::create_directories(dir + "/var");
  struct Cleanup {
    const Options& o;
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!o.keep) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{o, dir};

  std::fprintf(stderr, "[run %d] scratch %s\n", index, dir.c_str());
  if (o.raw) {
    rr.f["raw_sqlite_4096"] = bh::bench::raw_sqlite_insert_rate(dir, 4096, o.raw_events, o.sync == "full");
    rr.f["raw_sqlite_2048"] = bh::bench::raw_sqlite_insert_rate(dir, 2048, o.raw_events, o.sync == "full");
    rr.f["raw_sqlite_1024"] = bh::bench::raw_sqlite_insert_rate(dir, 1024, o.raw_events, o.sync == "full");
    rr.f["raw_sqlite_1000"] = bh::bench::raw_sqlite_insert_rate(dir, 1000, o.raw_events, o.sync == "full");
    std::fprintf(stderr, "[run %d] raw SQLite: %.0f ev/s (4096), %.0f ev/s (2048), %.0f ev/s (1024)\n", index,
                 rr.f["raw_sqlite_4096"], rr.f["raw_sqlite_2048"], rr.f["raw_sqlite_1024"]);
  }

  BenchSink sink;
  std::string err;
  if (o.sink && !sink.start(err)) {
    problem(err);
    return rr;
  }
  const std::uint16_t ingest_port = free_port(), admin_port = free_port();
  {
    std::ofstream f(dir + "/bulkhead.toml");
    f << config_text(o, ingest_port, admin_port, sink.port());
  }
  const std::string log = dir + "/bulkhead.log";
  int pid = spawn(o.bulkhead, dir + "/bulkhead.toml", dir, log);
  // Up until the listener accepts; not if the process exited first.
  const bool up = poll_until([&] {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) pid = -1;
    return pid < 0 || port_accepts(ingest_port);
  }, std::chrono::seconds(15), std::chrono::milliseconds(20)) && pid > 0;
  auto tail = [&] {
    std::string l = read_file(log);
    return l.size() > 3000 ? l.substr(l.size() - 3000) : l;
  };
  if (!up) {
    problem("bulkhead did not start");
    rr.log_tail = tail();
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait_exit(pid, 5);
    }
    return rr;
  }

  // Start-up is over when bulkhead logs "running" (after Reactor::warm_up, whose burst of FDs is
  // not what the runtime holds); figures are sampled from then on.
  poll_until([&] { return read_file(log).find(" running") != std::string::npos; }, std::chrono::seconds(15),
             std::chrono::milliseconds(20));
  std::fprintf(stderr, "[run %d] bulkhead pid %d\n", index, pid);
  // Sampler: RSS and FDs of the child every 100 ms.
  std::atomic<bool> sampling{true};
  std::atomic<int> max_fds{0};
  std::atomic<std::uint64_t> max_rss{0};
  std::thread sampler([&] {
    while (sampling.load()) {
      int n = count_fds(pid);
      if (n > max_fds.load()) max_fds = n;
      std::uint64_t rss = status_kib(read_file("/proc/" + std::to_string(pid) + "/status"), "VmRSS:");
      if (rss > max_rss.load()) max_rss = rss;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  LoadGen load(o.connections, o.window);
  StallProbe probe;  // the host's stalls, for "host stall %" and "p99 calm"
  if (!probe.realtime())
    std::fprintf(stderr, "[run %d] note: no SCHED_FIFO for the stall probe: its stalls include guest scheduling\n", index);
  auto sink_distinct = [&] { return o.sink ? sink.distinct() : 0; };
  auto wait_sink = [&](double& secs) {
    auto t0 = Clock::now();
    const bool caught_up =
        poll_until([&] { return !o.sink || sink.distinct() >= load.acked_total(); }, seconds_of(o.catchup_seconds));
    secs = std::chrono::duration<double>(Clock::now() - t0).count();
    return caught_up;
  };

  if (!load.connect(ingest_port, err)) problem(err);
  // Bytes per event over a phase, and per day at the rate it ran at.
  auto record_wear = [&](const std::string& k, const WearMark& a, const WearMark& b, double rate) {
    const double ev = b.acked - a.acked;
    auto per = [&](double x) { return ev > 0 ? x / ev : NAN; };
    rr.f[k + "proc_B_ev"] = per(b.proc - a.proc);
    rr.f[k + "dev_B_ev"] = o.device.empty() ? NAN : per(b.dev - a.dev);
    rr.f[k + "wal_B_ev"] = per(b.wal - a.wal);
    rr.f[k + "db_B_ev"] = per(b.db - a.db);
    rr.f[k + "audit_B_ev"] = b.audit >= a.audit ? per(b.audit - a.audit) : NAN;  // NaN: rotated meanwhile
    rr.f[k + "commits_ev"] = per(b.commits - a.commits);
    rr.f[k + "fsyncs_ev"] = per(b.fsyncs - a.fsyncs);
    rr.f[k + "proc_GB_day"] = rr.f[k + "proc_B_ev"] * rate * 86400 / 1e9;
    rr.f[k + "dev_GB_day"] = rr.f[k + "dev_B_ev"] * rate * 86400 / 1e9;
    rr.f[k + "sync_ms"] = b.syncs > a.syncs ? 1e3 * (b.sync_s - a.sync_s) / (b.syncs - a.syncs) : NAN;
    rr.f[k + "ckpt_s"] = rate > 0 && ev > 0 ? (b.checkpoints - a.checkpoints) * rate / ev : NAN;
  };
  std::uint64_t err_busy = 0;
  if (rr.ok) {
    // Phase 1: as fast as the acks allow.
    PhaseOptions p1{o.seconds, o.warmup, 0, 30, o.max_events};
    std::fprintf(stderr, "[run %d] phase 1: %u x %u in flight, %.0f s\n", index, o.connections, o.window, o.seconds);
    const double me0 = self_cpu_seconds();
    const auto s0 = sched_ns(pid);
    const auto t0r = reactor_sched_ns(pid);
    const auto m0 = machine_jiffies();
    const std::uint64_t w0 = io_write_bytes(pid);
    const std::uint64_t a0 = load.acked_total();
    const WearMark wm0 = wear_mark(pid, o.device, admin_port, dir, load.acked_total());
    // The CPU figures cover the whole phase (warm-up and drain included); close enough.
    auto t0 = Clock::now();
    PhaseResult r1 = load.run(p1, sink_distinct);
    const double el = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto m1 = machine_jiffies();
    const auto s1 = sched_ns(pid);
    rr.f["bh_cpu_pct"] = 100 * (s1.first - s0.first) / 1e9 / el;
    const auto t1r = reactor_sched_ns(pid);
    rr.f["bh_wait_cpu_pct"] = 100 * (s1.second - s0.second) / 1e9 / el;
    rr.f["bh_reactor_cpu_pct"] = 100 * (t1r.first - t0r.first) / 1e9 / el;
    rr.f["bh_blocked_pct"] = 100 * (1.0 - (t1r.first - t0r.first + t1r.second - t0r.second) / 1e9 / el);
    const double phase_events = static_cast<double>(load.acked_total() - a0);
    rr.f["bh_cpu_us_per_event"] = phase_events > 0 ? (s1.first - s0.first) / 1e3 / phase_events : NAN;
    rr.f["gen_cpu_pct"] = 100 * (self_cpu_seconds() - me0) / el;
    rr.f["machine_busy_pct"] = 100 * (m1.first - m0.first) / std::max(1.0, m1.second - m0.second) *
                               static_cast<double>(std::thread::hardware_concurrency());
    rr.f["bh_write_mib_s"] = static_cast<double>(io_write_bytes(pid) - w0) / (1 << 20) / el;
    if (!r1.failure.empty()) problem(r1.failure);
    if (!r1.drained) problem("phase 1: replies still missing " + std::to_string(p1.drain_seconds) + " s after the window");
    const double acked = static_cast<double>(r1.acked) / r1.window_s;
    rr.f["acked_rate"] = acked;
    // First-order estimate for a quiet machine: the same work with the runqueue wait removed.
    const double busy = rr.f["bh_reactor_cpu_pct"] + rr.f["bh_blocked_pct"];
    rr.f["acked_rate_free_core"] = busy > 0 ? acked * 100 / std::min(100.0, busy) : NAN;
    rr.f["delivered_rate"] = o.sink ? static_cast<double>(r1.sink_in_window) / r1.window_s : NAN;
    rr.f["e2e_rate"] = o.sink ? std::min(acked, rr.f["delivered_rate"]) : NAN;
    host_figures(rr.f, "full_", r1, probe);  // before pct_ms() reorders lat_ns
    rr.f["lat_p50_ms"] = pct_ms(r1.lat_ns, 0.50);
    rr.f["lat_p99_ms"] = pct_ms(r1.lat_ns, 0.99);
    rr.f["lat_p999_ms"] = pct_ms(r1.lat_ns, 0.999);
    rr.f["full_acked_rate"] = acked;
    rr.f["full_p50_ms"] = rr.f["lat_p50_ms"];
    rr.f["full_p99_ms"] = rr.f["lat_p99_ms"];
    rr.f["full_p999_ms"] = rr.f["lat_p999_ms"];
    record_wear("full_", wm0, wear_mark(pid, o.device, admin_port, dir, load.acked_total()), acked);
    err_busy += r1.err_busy;
    if (r1.err_storage) problem("phase 1: " + std::to_string(r1.err_storage) + " err storage");
    const double backlog = o.sink ? static_cast<double>(load.acked_total()) - static_cast<double>(sink.distinct()) : NAN;
    rr.f["backlog_end"] = backlog;
    double catchup = 0;
    if (!wait_sink(catchup)) problem("phase 1: the sink did not get every acked event within the catch-up time");
    rr.f["catchup_s"] = o.sink ? catchup : NAN;
    if (o.raw) {
      rr.f["ratio_raw_4096"] = acked / rr.f["raw_sqlite_4096"];
      rr.f["ratio_raw_2048"] = acked / rr.f["raw_sqlite_2048"];
      rr.f["ratio_raw_1024"] = acked / rr.f["raw_sqlite_1024"];
      rr.f["ratio_raw_1000"] = acked / rr.f["raw_sqlite_1000"];
    }
    std::fprintf(stderr, "[run %d] phase 1: %.0f acked/s, %.0f delivered/s, p99 %.2f ms\n", index, acked,
                 rr.f["delivered_rate"], rr.f["lat_p99_ms"]);

    // Phase 2: half the end-to-end rate (the rate delivery kept up with; without a sink, the acked
    // rate), for the latency at a sustainable load. Phase 3: half the 100 000 ev/s floor,
    // the rate its "p99 under 20 ms at half that rate" names.
    auto rate_phase = [&](int phase, const std::string& k, double target) {
      rr.f[k + "target_rate"] = target;
      if (!(target > 0) || !rr.ok) return;
      PhaseOptions po{o.half_seconds, o.warmup, target, 30, o.max_events};
      std::fprintf(stderr, "[run %d] phase %d: %.0f ev/s, %.0f s\n", index, phase, target, o.half_seconds);
      // Quiet first: the checkpointer copies an idle WAL after a quiet period, so the last phase's
      // checkpoint is counted in that phase, not in this one.
      std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_seconds));
      const WearMark wa = wear_mark(pid, o.device, admin_port, dir, load.acked_total());
      const auto q0 = reactor_sched_ns(pid);
      const auto tq0 = Clock::now();
      PhaseResult r = load.run(po, sink_distinct);
      const auto q1 = reactor_sched_ns(pid);
      // The reactor thread's runqueue wait (runnable, no CPU: the machine's other load) in % of the phase.
      rr.f[k + "rq_wait_pct"] = 100 * (q1.second - q0.second) / 1e9 /
                                std::chrono::duration<double>(Clock::now() - tq0).count();
      const WearMark wb = wear_mark(pid, o.device, admin_port, dir, load.acked_total());
      const std::string name = "phase " + std::to_string(phase) + ": ";
      if (!r.failure.empty()) problem(r.failure);
      if (!r.drained) problem(name + "replies still missing after the window");
      rr.f[k + "acked_rate"] = static_cast<double>(r.acked) / r.window_s;
      rr.f[k + "delivered_rate"] = o.sink ? static_cast<double>(r.sink_in_window) / r.window_s : NAN;
      host_figures(rr.f, k, r, probe);  // before pct_ms() reorders lat_ns
      rr.f[k + "p50_ms"] = pct_ms(r.lat_ns, 0.50);
      rr.f[k + "p99_ms"] = pct_ms(r.lat_ns, 0.99);
      rr.f[k + "p999_ms"] = pct_ms(r.lat_ns, 0.999);
      rr.f[k + "p99_sched_ms"] = pct_ms(r.lat_sched_ns, 0.99);
      rr.f[k + "behind_pct"] = r.sent ? 100.0 * static_cast<double>(r.behind_schedule) / static_cast<double>(r.sent) : 0;
      record_wear(k, wa, wb, rr.f[k + "acked_rate"]);
      err_busy += r.err_busy;
      if (r.err_storage) problem(name + std::to_string(r.err_storage) + " err storage");
      double c = 0;
      if (!wait_sink(c)) problem(name + "the sink did not get every acked event within the catch-up time");
      std::fprintf(stderr, "[run %d] phase %d: %.0f acked/s, p99 %.2f ms\n", index, phase, rr.f[k + "acked_rate"],
                   rr.f[k + "p99_ms"]);
    };
    rate_phase(2, "half_", o.half_rate > 0 ? o.half_rate : (o.sink ? rr.f["e2e_rate"] : acked) / 2);
    rate_phase(3, "floor_", o.floor_rate);
    for (std::size_t i = 0; i < o.paced.size(); ++i)
      rate_phase(static_cast<int>(4 + i), "r" + fmt_num(o.paced[i], 0) + "_", o.paced[i]);
  }
  rr.f["err_busy"] = static_cast<double>(err_busy);

  // Peak RSS and FDs while everything is still open, then SIGTERM.
  const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  rr.f["peak_rss_mib"] = static_cast<double>(std::max(status_kib(status, "VmHWM:"), max_rss.load())) / (1 << 20);
  rr.f["threads"] = static_cast<double>(status_kib(status, "Threads:") / 1024);
  sampling = false;
  sampler.join();
  rr.f["max_fds"] = max_fds.load();
  ::kill(pid, SIGTERM);
  int code = wait_exit(pid, 30);
  if (code < 0) {
    problem("bulkhead did not exit within 30 s of SIGTERM");
    ::kill(pid, SIGKILL);
    wait_exit(pid, 5);
  } else if (code != 0) {
    problem("bulkhead exited with " + std::to_string(code));
  }
  rr.f["exit_code"] = code;
  sink.stop();

  const std::string text = read_file(log);
  auto at = text.rfind("stopped: ");
  if (at == std::string::npos) {
    problem("no 'stopped: N heap allocation(s) after seal' line in the log");
    rr.f["allocs_after_seal"] = NAN;
  } else {
    rr.f["allocs_after_seal"] = static_cast<double>(std::strtoull(text.c_str() + at + 9, nullptr, 10));
  }
  const auto total = static_cast<double>(load.acked_total());
  rr.f["events_total"] = total;
  rr.f["allocs_per_event"] = total > 0 ? rr.f["allocs_after_seal"] / total : NAN;

  // Every acked event reached the sink, with the payload of the line it acked, in seq order.
  if (o.sink) {
    SinkTotals st = sink.totals();
    std::vector<std::uint64_t> got = sink.tags();
    const auto& acked = load.acked_tags();
    std::uint64_t missing = 0, wrong = 0;
    for (std::size_t seq = 1; seq < acked.size(); ++seq) {
      if (acked[seq] == 0) continue;
      if (seq >= got.size() || got[seq] == 0) ++missing;
      else if (got[seq] != acked[seq]) ++wrong;
    }
    rr.f["sink_duplicates"] = static_cast<double>(st.duplicates);
    rr.f["sink_connections"] = static_cast<double>(st.connections);
    rr.f["sink_requests"] = static_cast<double>(st.requests);
    if (missing) problem(std::to_string(missing) + " acked event(s) never reached the sink");
    if (wrong) problem(std::to_string(wrong) + " delivered event(s) carry another line's payload");
    if (st.out_of_order) problem(std::to_string(st.out_of_order) + " event(s) delivered out of seq order");
    if (st.bad_lines || st.bad_requests) problem("sink: " + std::to_string(st.bad_lines) + " bad envelope line(s), " +
                                                 std::to_string(st.bad_requests) + " bad request(s)");
    if (st.tag_mismatch) problem("sink: a resent seq carried a different payload");
    if (st.distinct != load.acked_total())
      problem("sink got " + std::to_string(st.distinct) + " distinct events, the producers were acked " +
              std::to_string(load.acked_total()));
  }
  if (!rr.ok) rr.log_tail = tail();
  if (o.keep) std::fprintf(stderr, "[run %d] kept %s\n", index, dir.c_str());
  return rr;
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string fmt_num(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string json_num(double v, int decimals) { return std::isnan(v) ? "null" : fmt_num(v, decimals); }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) return 2;
  ::signal(SIGPIPE, SIG_IGN);
  if (::access(o.bulkhead.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "bulkhead binary %s is not executable\n", o.bulkhead.c_str());
    return 2;
  }
  std::filesystem::create_directories(o.dir);
  struct statfs sfs {};
  std::string fs_note;
  if (::statfs(o.dir.c_str(), &sfs) == 0 && sfs.f_type == 0x01021994)
    fs_note = " (WARNING: tmpfs: fsync is free here, the figures do not reflect a disk)";
  const std::string load_before = loadavg();
  std::vector<RunResult> runs;
  bool all_ok = true;
  for (std::uint32_t i = 1; i <= o.runs; ++i) {
    runs.push_back(run_once(o, static_cast<int>(i)));
    const RunResult& r = runs.back();
    if (!r.ok) {
      all_ok = false;
      for (const auto& p : r.problems) std::fprintf(stderr, "[run %u] PROBLEM: %s\n", i, p.c_str());
      if (!r.log_tail.empty()) std::fprintf(stderr, "[run %u] bulkhead log tail:\n%s\n", i, r.log_tail.c_str());
    }
  }
  const std::string load_after = loadavg();

  std::printf("\nbulkhead pipeline benchmark: %u connection(s) x %u in flight, %zu-byte JSON events, synchronous=%s,\n"
              "store.max_batch=%u, audit %s, %s; phase 1 %.0f s at max rate, phases 2 (half of it) and 3 (fixed) %.0f s\n"
              "(+%.0f s warm-up each); %u run(s); scratch on %s%s\n"
              "machine: %u cores, load average before %s, after %s\n\n",
              o.connections, o.window, LoadGen::kEventBytes, o.sync.c_str(), o.max_batch, o.audit ? "on" : "off",
              o.sink ? ("one loopback sink (batch_events " + std::to_string(o.sink_batch_events) + ", batch_bytes " +
                        o.sink_batch_bytes + ")").c_str()
                     : "no sink",
              o.seconds, o.half_seconds, o.warmup, o.runs, o.dir.c_str(), fs_note.c_str(),
              std::thread::hardware_concurrency(), load_before.c_str(), load_after.c_str());
  std::printf("%-46s %10s", "figure", o.runs > 1 ? "median" : "value");
  if (o.runs > 1)
    for (std::uint32_t i = 1; i <= o.runs; ++i) std::printf("  %9s%u", "run ", i);
  std::printf("  unit\n");
  std::map<std::string, double> med;
  for (const Figure& f : kFigures) {
    std::vector<double> vals;
    for (const auto& r : runs) {
      auto it = r.f.find(f.key);
      vals.push_back(it == r.f.end() ? NAN : it->second);
    }
    med[f.key] = median(vals);
    std::printf("%-46s %10s", f.label, fmt_num(med[f.key], f.decimals).c_str());
    if (o.runs > 1)
      for (double v : vals) std::printf("  %10s", fmt_num(v, f.decimals).c_str());
    std::printf("  %s\n", f.unit);
  }
  // Per phase: latency and where the bytes went (medians over the runs).
  std::vector<std::pair<std::string, std::string>> phases = {{"full", "full_"}, {"half", "half_"}};
  if (o.floor_rate > 0) phases.push_back({fmt_num(o.floor_rate, 0) + "/s", "floor_"});
  for (double r : o.paced) phases.push_back({fmt_num(r, 0) + "/s", "r" + fmt_num(r, 0) + "_"});
  std::printf("\nper phase (medians; B/ev = bytes written per acked event over warm-up + window + drain;\n"
              "proc = /proc/<pid>/io write_bytes, dev = %s sectors written, WAL/db = what SQLite wrote to them,\n"
              "audit = audit log growth; GB/day at the phase's acked rate; host stall = time a CPU did not run\n"
              "(its pinned SCHED_FIFO 1 ms ticker woke >= 1 ms late: a VM's host stopping it); p99 calm = p99\n"
              "of the acks that met no such stall nor the backlog behind it, as long again)\n%-12s",
              o.device.empty() ? "(no --device)" : ("/sys/block/" + o.device + "/stat").c_str(), "phase");
  for (const PhaseFigure& f : kPhaseFigures) std::printf(" %11s", f.label);
  std::printf("\n");
  for (const auto& [name, k] : phases) {
    std::printf("%-12s", name.c_str());
    for (const PhaseFigure& f : kPhaseFigures) {
      std::vector<double> vals;
      for (const auto& r : runs) {
        auto it = r.f.find(k + f.key);
        vals.push_back(it == r.f.end() ? NAN : it->second);
      }
      med[k + f.key] = median(vals);
      std::printf(" %11s", fmt_num(med[k + f.key], f.decimals).c_str());
    }
    std::printf("\n");
  }

  auto mark = [](bool ok) { return ok ? "met" : "MISSED"; };
  std::printf("\ntargets (reported, not asserted):\n");
  std::printf("  >= 100000 ev/s end to end ............ %s\n", mark(med["e2e_rate"] >= 100000));
  std::printf("  p99 ack latency < 20 ms at half rate .. %s (phase 2, half the measured e2e rate)\n",
              mark(med["half_p99_ms"] < 20));
  if (o.floor_rate > 0)
    std::printf("  p99 ack latency < 20 ms at %.0f ev/s . %s (phase 3; goal single-digit: %s)\n", o.floor_rate,
                mark(med["floor_p99_ms"] < 20), med["floor_p99_ms"] < 10 ? "met" : "missed");
  std::printf("  peak RSS < 32 MiB (goal 16 MiB) ...... %s (%s)\n", mark(med["peak_rss_mib"] < 32),
              med["peak_rss_mib"] < 16 ? "goal met" : "goal missed");
  std::printf("  0 heap allocations per event ......... %s\n", mark(med["allocs_after_seal"] == 0));
  std::printf("  0.7 x raw SQLite (goal) .............. %s\n", mark(med["ratio_raw_4096"] >= 0.7));
  std::printf("  run integrity (nothing lost/misordered, exit 0): %s\n", all_ok ? "ok" : "BROKEN (see PROBLEM lines)");

  std::string j = "{\"bench\":\"pipeline\",\"connections\":" + std::to_string(o.connections) +
                  ",\"in_flight\":" + std::to_string(o.window) + ",\"event_bytes\":" + std::to_string(LoadGen::kEventBytes) +
                  ",\"synchronous\":\"" + o.sync + "\",\"max_batch\":" + std::to_string(o.max_batch) +
                  ",\"audit\":" + (o.audit ? "true" : "false") + ",\"sink\":" + (o.sink ? "true" : "false") +
                  ",\"seconds\":" + fmt_num(o.seconds, 1) + ",\"runs\":" + std::to_string(o.runs) +
                  ",\"cores\":" + std::to_string(std::thread::hardware_concurrency()) + ",\"loadavg_before\":\"" +
                  load_before + "\",\"loadavg_after\":\"" + load_after + "\",\"ok\":" + (all_ok ? "true" : "false");
  for (const Figure& f : kFigures) j += std::string(",\"") + f.key + "\":" + json_num(med[f.key], f.decimals);
  for (const auto& ph : phases)
    for (const PhaseFigure& f : kPhaseFigures)
      j += ",\"" + ph.second + f.key + "\":" + json_num(med[ph.second + f.key], f.decimals);
  if (!o.commit_window.empty()) j += ",\"commit_window\":\"" + o.commit_window + "\"";
  if (o.ack_log) j += ",\"ack_log\":true";
  if (!o.device.empty()) j += ",\"device\":\"" + o.device + "\"";
  j += "}";
  std::printf("\n%s\n", j.c_str());
  return all_ok ? 0 : 1;
}
