// Config loader: expands the key tables of config.hpp into row descriptors (name, spec, help, and a
// typed pointer to the struct member) and drives everything from them: TOML → Config with checks,
// Config → TOML (render_config, the embedded default), and the Markdown reference.
// Not a schema engine: rules that relate keys to each other are plain code in check_cross().
// Start-up code: allocates freely, reports errors as values, lets no exception escape.
#include "firmware/config.hpp"
#include "platform/sources/jobs_check.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <toml++/toml.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <type_traits>

#include "platform/delivery/request_headers.hpp"
#include "platform/net/bearer_auth.hpp"
#include "platform/net/endpoint.hpp"
#include "platform/net/tls.hpp"
#include "platform/shape/shape_check.hpp"
#include "platform/sources/close_codes.hpp"
#include "platform/util/redact.hpp"

namespace bh {
namespace {

using namespace cfg;

// ---- Row descriptors -------------------------------------------------------------------------

// A typed pointer to one member of a section struct.
using FieldRef = std::variant<bool*, std::string*, std::uint32_t*, std::uint64_t*, Millis*, double*,
                              Overflow*, SyncLevel*, StringList*>;

// How a value is written in TOML (and shown in the docs).
enum class Form : std::uint8_t { boolean, string, choice, integer, size, duration, real, list };

struct KeyRow {
  std::string_view name;
  Spec spec;
  std::string_view help;
  Form form;
  std::uint64_t type_max;                // largest value the member's type holds (integers)
  FieldRef (*field)(void* section);     // the member inside a section struct
};

template <class T>
constexpr Form form_of(const Spec& s) {
  if constexpr (std::is_same_v<T, bool>) return Form::boolean;
  else if constexpr (std::is_same_v<T, std::string>) return s.choices.empty() ? Form::string : Form::choice;
  else if constexpr (std::is_enum_v<T>) return Form::choice;
  else if constexpr (std::is_same_v<T, Millis>) return Form::duration;
  else if constexpr (std::is_same_v<T, double>) return Form::real;
  else if constexpr (std::is_same_v<T, StringList>) return Form::list;
  else {
    static_assert(std::is_integral_v<T> && std::is_unsigned_v<T>, "config integers are unsigned");
    return s.size_strings ? Form::size : Form::integer;
  }
}

template <class S, class T, T S::*M>
constexpr KeyRow make_row(std::string_view name, Spec sp, std::string_view help) {
  std::uint64_t tmax = 0;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) tmax = std::numeric_limits<T>::max();
  if constexpr (std::is_same_v<T, Millis>) tmax = static_cast<std::uint64_t>(std::numeric_limits<Millis::rep>::max());
  return KeyRow{name, sp, help, form_of<T>(sp), tmax,
                [](void* o) -> FieldRef { return &(static_cast<S*>(o)->*M); }};
}

#define BH_CONFIG_ROW(key, type, def, sp, help) make_row<Self, type, &Self::key>(#key, sp, help),
#define BH_CONFIG_ROWS(Struct, LIST) \
  [] {                               \
    using Self = Struct;             \
    return std::array{LIST(BH_CONFIG_ROW)}; \
  }()

constexpr auto kIngestRows = BH_CONFIG_ROWS(IngestConfig, BH_CONFIG_INGEST);
constexpr auto kStoreRows = BH_CONFIG_ROWS(StoreConfig, BH_CONFIG_STORE);
constexpr auto kAuditRows = BH_CONFIG_ROWS(AuditConfig, BH_CONFIG_AUDIT);
constexpr auto kSinkRows = BH_CONFIG_ROWS(SinkConfig, BH_CONFIG_SINK);
constexpr auto kSourceRows = BH_CONFIG_ROWS(SourceConfig, BH_CONFIG_SOURCE);
constexpr auto kSourceReplyRows = BH_CONFIG_ROWS(SourceReplyConfig, BH_CONFIG_SOURCE_REPLY);
constexpr auto kAdminRows = BH_CONFIG_ROWS(AdminConfig, BH_CONFIG_ADMIN);
constexpr auto kConsoleRows = BH_CONFIG_ROWS(ConsoleConfig, BH_CONFIG_CONSOLE);
constexpr auto kWatchdogRows = BH_CONFIG_ROWS(WatchdogConfig, BH_CONFIG_WATCHDOG);
constexpr auto kRuntimeRows = BH_CONFIG_ROWS(RuntimeConfig, BH_CONFIG_RUNTIME);
constexpr auto kClockRows = BH_CONFIG_ROWS(ClockConfig, BH_CONFIG_CLOCK);

#undef BH_CONFIG_ROWS
#undef BH_CONFIG_ROW

// Table sanity, checked by the compiler: bounds ordered and representable in the member's type.
constexpr bool rows_valid(std::span<const KeyRow> rows) {
  for (const KeyRow& r : rows) {
    if (r.spec.min > r.spec.max) return false;
    if ((r.form == Form::integer || r.form == Form::size || r.form == Form::duration) &&
        r.spec.max != std::numeric_limits<std::uint64_t>::max() && r.spec.max > r.type_max)
      return false;
    if ((r.form == Form::integer || r.form == Form::size) && r.spec.max == std::numeric_limits<std::uint64_t>::max() &&
        r.type_max != r.spec.max)
      return false;  // a u32 key needs an explicit max
    if (r.form == Form::real && !(r.spec.fmin <= r.spec.fmax)) return false;
  }
  return true;
}
static_assert(rows_valid(kIngestRows) && rows_valid(kStoreRows) && rows_valid(kAuditRows) &&
              rows_valid(kSinkRows) && rows_valid(kSourceRows) && rows_valid(kSourceReplyRows) && rows_valid(kAdminRows) &&
              rows_valid(kConsoleRows) && rows_valid(kWatchdogRows) && rows_valid(kRuntimeRows));

// ---- Sections --------------------------------------------------------------------------------

enum class Shape : std::uint8_t { table, array, pools };

// An array of tables inside an array element: `[[source.reply]]` after a `[[source]]`.
struct SubArray {
  std::string_view name;
  std::span<const KeyRow> rows;
  std::string_view help;
  std::size_t (*count)(void* parent);
  void* (*at)(void* parent, std::size_t);
  void* (*append)(void* parent);
  std::size_t max_count;
  std::string_view max_name;
};

template <class Parent, auto Member>
constexpr SubArray sub_array(std::string_view name, std::span<const KeyRow> rows, std::string_view help, std::size_t max,
                             std::string_view max_name) {
  return SubArray{name, rows, help,
                  [](void* p) -> std::size_t { return (static_cast<Parent*>(p)->*Member).size(); },
                  [](void* p, std::size_t i) -> void* { return &(static_cast<Parent*>(p)->*Member)[i]; },
                  [](void* p) -> void* { return &(static_cast<Parent*>(p)->*Member).emplace_back(); },
                  max, max_name};
}

const std::array kSourceSubs{
    sub_array<SourceConfig, &SourceConfig::reply>(
        "reply", kSourceReplyRows,
        "Replies of a WebSocket source, one `[[source.reply]]` table each after its `[[source]]` (at most 8), checked in "
        "order: every reply whose `when` matches an incoming message sends its `send` back, and a message that matched "
        "any is a protocol message, not stored (e.g. Pusher: `pusher:ping` -> `pusher:pong`).",
        kMaxSourceReplies, "kMaxSourceReplies"),
};

struct Section {
  std::string_view name;
  Shape shape;
  std::span<const KeyRow> rows;
  std::string_view help;
  std::size_t (*count)(const Config&);     // instances present (1 for a table)
  void* (*at)(Config&, std::size_t);       // the i-th instance
  void* (*append)(Config&);                // arrays: add a default element, return it
  std::size_t max_count;                   // arrays: compiled limit
  std::string_view max_name;               // arrays: its name in budget.hpp
  std::span<const SubArray> subs = {};     // arrays: arrays of tables inside each element
};

template <auto Member>
constexpr Section table_section(std::string_view name, std::span<const KeyRow> rows, std::string_view help) {
  return Section{name, Shape::table, rows, help,
                 [](const Config&) -> std::size_t { return 1; },
                 [](Config& c, std::size_t) -> void* { return &(c.*Member); },
                 nullptr, 1, {}};
}

template <auto Member>
constexpr Section array_section(std::string_view name, std::span<const KeyRow> rows, std::string_view help,
                                std::size_t max, std::string_view max_name, std::span<const SubArray> subs = {}) {
  return Section{name, Shape::array, rows, help,
                 [](const Config& c) -> std::size_t { return (c.*Member).size(); },
                 [](Config& c, std::size_t i) -> void* { return &(c.*Member)[i]; },
                 [](Config& c) -> void* { return &(c.*Member).emplace_back(); },
                 max, max_name, subs};
}

const std::array kSections{
    table_section<&Config::ingest>("ingest", kIngestRows, "Event ingest over TCP (NDJSON, per-event acks) and an optional Unix socket."),
    table_section<&Config::store>("store", kStoreRows, "The SQLite event store and its outbox."),
    table_section<&Config::audit>("audit", kAuditRows, "The audit log of operator actions."),
    array_section<&Config::sinks>("sink", kSinkRows, "HTTP(S) delivery targets, one `[[sink]]` table each (at most budget::kMaxSinks).",
                                  budget::kMaxSinks, "budget::kMaxSinks"),
    array_section<&Config::sources>("source", kSourceRows, "Pulled event sources, one `[[source]]` table each (at most budget::kMaxSources). The TCP/HTTP ingest source is always present and named `ingest`.",
                                    budget::kMaxSources, "budget::kMaxSources", kSourceSubs),
    table_section<&Config::admin>("admin", kAdminRows, "The admin HTTP API."),
    table_section<&Config::console>("console", kConsoleRows, "The line console (Unix socket, serial line, PTY or stdio)."),
    table_section<&Config::watchdog>("watchdog", kWatchdogRows, "Health checks, the hardware watchdog and systemd notification."),
    table_section<&Config::runtime>("runtime", kRuntimeRows, "Process-wide settings."),
    table_section<&Config::clock>("clock", kClockRows, "The wall clock's health: its sync check (timers, deadlines and retention ages never use the wall clock)."),
    Section{"pools", Shape::pools, {}, "Lower limits for the compiled resource pools (firmware/budget.hpp): `name = limit`, 1..capacity. A pool left out keeps its compiled capacity.",
            nullptr, nullptr, nullptr, 0, {}},
};

const Section* find_section(std::string_view name) {
  for (const Section& s : kSections)
    if (s.name == name) return &s;
  return nullptr;
}

const KeyRow* find_row(std::span<const KeyRow> rows, std::string_view name) {
  for (const KeyRow& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

std::optional<std::size_t> pool_index(std::string_view name) {
  for (std::size_t i = 0; i < budget::kPools.size(); ++i)
    if (budget::kPools[i].name == name) return i;
  return std::nullopt;
}

// ---- Value syntax ----------------------------------------------------------------------------

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};
constexpr std::array kDurationUnits{Unit{"ms", 1}, Unit{"s", kSecond}, Unit{"m", kMinute}, Unit{"h", kHour},
                                    Unit{"d", kDay}};
constexpr std::array kSizeUnits{Unit{"", 1},          Unit{"B", 1},          Unit{"KiB", KiB},
                                Unit{"MiB", MiB},     Unit{"GiB", GiB},      Unit{"TiB", TiB},
                                Unit{"KB", 1000},     Unit{"MB", 1000'000},  Unit{"GB", 1000'000'000},
                                Unit{"TB", 1000'000'000'000}};

// "<digits><unit>" with the unit from `units`; false on anything else or on overflow of `limit`.
bool parse_scaled(std::string_view s, std::span<const Unit> units, std::uint64_t limit, std::uint64_t& out) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    std::uint64_t d = static_cast<std::uint64_t>(s[i] - '0');
    if (n > (limit - d) / 10) return false;
    n = n * 10 + d;
    ++i;
  }
  if (i == 0) return false;
  std::string_view suffix = s.substr(i);
  for (const Unit& u : units) {
    if (u.suffix != suffix) continue;
    if (n != 0 && u.factor > limit / n) return false;
    out = n * u.factor;
    return true;
  }
  return false;
}

constexpr std::string_view kDurationSyntax = "an integer followed by ms, s, m, h or d (\"250ms\", \"5s\", \"2m\", \"1h\", \"7d\")";
constexpr std::string_view kSizeSyntax = "an integer optionally followed by B, KiB, MiB, GiB, TiB, KB, MB, GB or TB (\"16KiB\", \"10MiB\")";

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        else out += ch;
    }
  }
  out += '"';
  return out;
}

std::string format_real(double d) {
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}

std::string choices_text(std::span<const std::string_view> choices) {
  std::string out;
  for (std::string_view c : choices) {
    if (!out.empty()) out += ", ";
    out += quoted(c);
  }
  return out;
}

// A number in the key's own form: sizes as "16KiB" where exact, durations as "5s".
std::string format_number(std::uint64_t v, Form form) {
  if (form == Form::size) return format_size(v);
  if (form == Form::duration) return format_duration(Millis{static_cast<Millis::rep>(v)});
  return std::to_string(v);
}

std::optional<std::string> listen_problem(std::string_view s) {
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos) return "missing ']' after the IPv6 host";
    host = std::string(s.substr(1, close - 1));
    if (close + 1 >= s.size() || s[close + 1] != ':') return "missing ':port'";
    port = s.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return fmt::format("host {} is not a numeric IPv6 address", quoted(host));
  } else {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return "missing ':port'";
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) return "an IPv6 host goes in brackets, e.g. \"[::1]:7700\"";
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return fmt::format("host {} is not a numeric IPv4 address", quoted(host));
  }
  std::uint64_t p = 0;
  if (port.empty() || port.size() > 5 || !parse_scaled(port, std::span(kSizeUnits).first(1), 65535, p) || p == 0)
    return fmt::format("port {} is not in 1..65535", quoted(port));
  return std::nullopt;
}

// The checks below name the value by `shown`: its quoted text, or what an error may show of a
// secret (Loader::shown).
std::optional<std::string> url_problem(std::string_view s, std::string_view shown, std::string_view a, std::string_view b) {
  std::string_view rest;
  if (s.starts_with(a)) rest = s.substr(a.size());
  else if (s.starts_with(b)) rest = s.substr(b.size());
  else return fmt::format("{} must start with {} or {}", shown, a, b);
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') return fmt::format("{} names no host", shown);
  return std::nullopt;
}

std::optional<std::string> name_problem(std::string_view s, std::string_view shown) {
  if (s.empty() || s.size() > 64) return "a name must be 1..64 characters";
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return fmt::format("{} may only contain letters, digits, '_', '-' and '.'", shown);
  }
  return std::nullopt;
}

std::optional<std::string> notify_problem(std::string_view s, std::string_view shown) {
  if (s == "auto" || s == "off") return std::nullopt;
  if (s.size() > 1 && (s.front() == '/' || s.front() == '@')) return std::nullopt;
  return fmt::format("{} is not \"auto\", \"off\", an absolute socket path or an \"@abstract\" name", shown);
}

// ---- References ------------------------------------------------------------------------------

constexpr std::size_t kMaxReferenceFile = 64 * KiB;

bool is_env_name(std::string_view s) {
  if (s.empty() || (s.front() >= '0' && s.front() <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A literal string as TOML text for the loader: every "${" written "$${" (see expand()).
std::string escape_references(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') out += '$';
    out += s[i];
  }
  return out;
}

// What an error message or render may show of a secret literal: a URL as scheme://host/***, else ***.
std::string redacted(std::string_view value) { return fmt::format("{}", redact::url(value)); }

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// ---- Loading ---------------------------------------------------------------------------------

class Loader {
 public:
  explicit Loader(std::string_view origin) : file_(origin) {}

  std::variant<Config, ConfigError> run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      return ConfigError{file_, e.source().begin.line, e.source().begin.column, "", std::string(e.description())};
    }
    Config c;
    c.origin = file_;
    for (auto&& [k, node] : root) load_section(c, k, node);
    if (!err_) check_cross(c);
    if (err_) return *err_;
    for (auto& [key, text] : refs_) c.references.push_back(ConfigReference{key, std::move(text)});
    c.secret_values = std::move(secret_values_);
    return c;
  }

 private:
  std::string file_;
  std::optional<ConfigError> err_;
  std::map<std::string, toml::source_region, std::less<>> where_;  // dotted key/section → position
  std::map<std::string, std::string, std::less<>> refs_;            // key → text as written, values with references
  std::vector<std::string> secret_values_;                          // what env/file references gave

  // A value as an error message shows it: one that came from a reference as the text written
  // (never the value), a literal in a secret key redacted, anything else quoted.
  std::string shown(std::string_view key, std::string_view value, bool secret) const {
    if (auto it = refs_.find(key); it != refs_.end()) return fmt::format("{} (expanded)", quoted(it->second));
    return quoted(secret ? redacted(value) : value);
  }

  // The TOML string `raw` found under `key` with its references expanded (grammar: config.hpp,
  // load_config_file). nullopt after recording an error, which names the reference, not a value.
  std::optional<std::string> expand(const toml::node& n, std::string_view raw, const std::string& key) {
    if (raw.find('$') == std::string_view::npos) return std::string(raw);
    std::string out;
    std::vector<std::string> found;
    bool referenced = false;
    for (std::size_t i = 0; i < raw.size();) {
      if (raw.substr(i, 3) == "$${") {
        out += "${";
        i += 3;
      } else if (raw.substr(i, 2) == "${") {
        std::size_t close = raw.find('}', i + 2);
        if (close == std::string_view::npos) {
          fail(n.source(), key, "unterminated \"${\" (a literal \"${\" is written \"$${\")");
          return std::nullopt;
        }
        bool secret = false;
        auto v = resolve(raw.substr(i, close + 1 - i), n, key, secret);
        if (!v) return std::nullopt;
        out += *v;
        if (secret && !v->empty()) found.push_back(std::move(*v));
        referenced = true;
        i = close + 1;
      } else {
        out += raw[i++];
      }
    }
    if (referenced) {
      refs_.insert_or_assign(key, std::string(raw));
      for (std::string& f : found) secret_values_.push_back(std::move(f));
    }
    return out;
  }

  // One "${provider:arg}" reference. `secret`: the value came from the environment or a file (not
  // from a default written in the config).
  std::optional<std::string> resolve(std::string_view ref, const toml::node& n, const std::string& key, bool& secret) {
    std::string_view body = ref.substr(2, ref.size() - 3);
    std::size_t colon = body.find(':');
    std::string_view provider = colon == std::string_view::npos ? body : body.substr(0, colon);
    std::string_view arg = colon == std::string_view::npos ? std::string_view{} : body.substr(colon + 1);
    if (colon != std::string_view::npos && provider == "env") {
      std::string_view name = arg, fallback;
      std::size_t dash = arg.find(":-");
      if (dash != std::string_view::npos) {
        name = arg.substr(0, dash);
        fallback = arg.substr(dash + 2);
      }
      if (!is_env_name(name)) {
        fail(n.source(), key, fmt::format("{}: {} is not an environment variable name (letters, digits and '_', not starting with a digit)",
                                          ref, quoted(name)));
        return std::nullopt;
      }
      const char* v = std::getenv(std::string(name).c_str());
      if (v && (*v || dash == std::string_view::npos)) {
        secret = true;
        return std::string(v);
      }
      if (dash != std::string_view::npos) return std::string(fallback);
      fail(n.source(), key, fmt::format("{}: environment variable {} is not set (\"${{env:{}:-default}}\" gives a default)", ref, name, name));
      return std::nullopt;
    }
    if (colon != std::string_view::npos && provider == "file") {
      if (arg.empty()) {
        fail(n.source(), key, fmt::format("{}: names no file", ref));
        return std::nullopt;
      }
      secret = true;
      return read_reference_file(ref, arg, n, key);
    }
    fail(n.source(), key, fmt::format("{}: unknown reference; expected ${{env:NAME}}, ${{env:NAME:-default}} or ${{file:PATH}} "
                                      "(a literal \"${{\" is written \"$${{\")", ref));
    return std::nullopt;
  }

  // ${file:PATH}: relative to $CREDENTIALS_DIRECTORY when set, else to the config file's folder.
  std::optional<std::string> read_reference_file(std::string_view ref, std::string_view arg, const toml::node& n,
                                                 const std::string& key) {
    std::string path(arg);
    if (path.front() != '/') {
      const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
      std::string dir = creds && *creds ? std::string(creds) : file_.substr(0, file_.rfind('/') + 1);  // "" = the cwd
      if (!dir.empty() && dir.back() != '/') dir += '/';
      path = dir + path;
    }
    std::FILE* f = std::fopen(path.c_str(), "rbe");
    if (!f) {
      fail(n.source(), key, fmt::format("{}: cannot open {}: {}", ref, path, std::strerror(errno)));
      return std::nullopt;
    }
    std::string text(kMaxReferenceFile + 1, '\0');
    std::size_t got = std::fread(text.data(), 1, text.size(), f);
    bool failed = std::ferror(f) != 0;
    int err = errno;
    std::fclose(f);
    if (failed) {
      fail(n.source(), key, fmt::format("{}: cannot read {}: {}", ref, path, std::strerror(err)));
      return std::nullopt;
    }
    if (got > kMaxReferenceFile) {
      fail(n.source(), key, fmt::format("{}: {} is larger than {}", ref, path, format_size(kMaxReferenceFile)));
      return std::nullopt;
    }
    text.resize(got);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }

  // Keeps the earliest error in the file (errors without a position sort last).
  void fail(const toml::source_region& at, std::string key, std::string message) {
    ConfigError e{file_, at.begin.line, at.begin.column, std::move(key), std::move(message)};
    auto rank = [](const ConfigError& x) {
      return std::pair{x.line == 0 ? std::numeric_limits<std::uint32_t>::max() : x.line, x.column};
    };
    if (!err_ || rank(e) < rank(*err_)) err_ = std::move(e);
  }

  // An error about `key` placed where the key (or else its table, or else its section) was written.
  // A source's job keys: pointers and the filter that compile, and combinations that make sense.
  void check_source_jobs(const SourceConfig& s, const std::string& p) {
    std::string key;
    std::string why = source_jobs_problem({s.type == "http_poll", s.split, s.select, s.decode, s.dedupe_key, s.filter}, key);
    if (!why.empty()) fail_key(p + "." + key, why);
  }

  void fail_key(const std::string& key, std::string message) {
    std::string_view probe = key;
    while (!probe.empty()) {
      if (auto it = where_.find(probe); it != where_.end()) return fail(it->second, key, std::move(message));
      std::size_t cut = probe.find_last_of(".[");
      probe = cut == std::string_view::npos ? std::string_view{} : probe.substr(0, cut);
    }
    fail(toml::source_region{}, key, std::move(message));
  }

  void type_error(const toml::node& n, const std::string& key, std::string_view expected) {
    fail(n.source(), key, fmt::format("expected {}, got {}", expected, type_name(n.type())));
  }

  void load_section(Config& c, const toml::key& k, const toml::node& node) {
    const Section* sec = find_section(k.str());
    if (!sec) {
      fail(k.source(), std::string(k.str()), node.is_table() || node.is_array_of_tables() ? "unknown section" : "unknown key");
      return;
    }
    std::string name(sec->name);
    where_.emplace(name, node.source());
    switch (sec->shape) {
      case Shape::table: {
        const toml::table* t = node.as_table();
        if (!t) return type_error(node, name, fmt::format("a table [{}]", name));
        load_table(*t, sec->rows, sec->at(c, 0), name);
        return;
      }
      case Shape::array: {
        const toml::array* a = node.as_array();
        if (!a || !a->is_array_of_tables())
          return type_error(node, name, fmt::format("an array of tables [[{}]]", name));
        for (std::size_t i = 0; i < a->size(); ++i) {
          const toml::table& t = *(*a)[i].as_table();
          std::string prefix = fmt::format("{}[{}]", name, i);
          where_.emplace(prefix, t.source());
          if (i >= sec->max_count) {
            fail(t.source(), prefix, fmt::format("{} {}s exceed the compiled limit {} ({})", a->size(), name,
                                                 sec->max_count, sec->max_name));
            return;
          }
          load_table(t, sec->rows, sec->append(c), prefix, sec->subs);
          check_required(t, sec->rows, prefix);
        }
        return;
      }
      case Shape::pools: {
        const toml::table* t = node.as_table();
        if (!t) return type_error(node, name, "a table [pools]");
        load_pools(c, *t);
        return;
      }
    }
  }

  void check_required(const toml::table& t, std::span<const KeyRow> rows, const std::string& prefix) {
    for (const KeyRow& r : rows)
      if (r.spec.required && !t.contains(r.name)) fail(t.source(), fmt::format("{}.{}", prefix, r.name), "missing required key");
  }

  void load_table(const toml::table& t, std::span<const KeyRow> rows, void* obj, const std::string& prefix,
                  std::span<const SubArray> subs = {}) {
    for (auto&& [k, node] : t) {
      std::string key = fmt::format("{}.{}", prefix, k.str());
      const KeyRow* row = find_row(rows, k.str());
      auto sub = std::find_if(subs.begin(), subs.end(), [&, &kk = k](const SubArray& x) { return x.name == kk.str(); });
      if (!row && sub != subs.end()) {
        load_sub(*sub, node, obj, key);
        continue;
      }
      if (!row) {
        fail(k.source(), key, "unknown key");
        continue;
      }
      where_.emplace(key, node.source());
      // `n`, not `node`: clang 14 (the fuzz build) cannot capture a structured binding.
      std::visit([&, &n = node](auto* field) { set(*field, *row, n, key); }, row->field(obj));
    }
  }

  // `[[parent.name]]` tables: each loads into a new element of the parent's sub-array.
  void load_sub(const SubArray& sub, const toml::node& node, void* parent, const std::string& key) {
    where_.emplace(key, node.source());
    const toml::array* a = node.as_array();
    if (!a || !a->is_array_of_tables()) return type_error(node, key, fmt::format("an array of tables [[...{}]]", sub.name));
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table& t = *(*a)[i].as_table();
      std::string prefix = fmt::format("{}[{}]", key, i);
      where_.emplace(prefix, t.source());
      if (i >= sub.max_count) {
        fail(t.source(), prefix, fmt::format("{} {} tables exceed the limit {} ({})", a->size(), sub.name, sub.max_count, sub.max_name));
        return;
      }
      load_table(t, sub.rows, sub.append(parent), prefix);
      check_required(t, sub.rows, prefix);
    }
  }

  void load_pools(Config& c, const toml::table& t) {
    for (auto&& [k, node] : t) {
      std::string key = fmt::format("pools.{}", k.str());
      auto idx = pool_index(k.str());
      if (!idx) {
        std::string known;
        for (const auto& p : budget::kPools) known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
        fail(k.source(), key, fmt::format("unknown pool '{}' (pools: {})", k.str(), known));
        continue;
      }
      where_.emplace(key, node.source());
      const auto& pool = budget::kPools[*idx];
      Spec sp = spec().at_least(1);
      sp.max = pool.capacity;
      sp.cap = Cap::pool;
      sp.cap_name = pool.name;
      KeyRow row{pool.name, sp, pool.description, Form::integer, std::numeric_limits<std::uint32_t>::max(), nullptr};
      if (auto v = read_unsigned(row, node, key)) c.pool_limits[*idx] = static_cast<std::uint32_t>(*v);
    }
  }

  // -- one value, by member type --

  void set(bool& out, const KeyRow&, const toml::node& n, const std::string& key) {
    if (auto v = n.value_exact<bool>()) out = *v;
    else type_error(n, key, "a boolean");
  }

  void set(std::string& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    const auto* s = n.as_string();
    if (!s) {
      if (!row.spec.choices.empty())
        return type_error(n, key, fmt::format("a string (one of {})", choices_text(row.spec.choices)));
      return type_error(n, key, "a string");
    }
    auto v = expand(n, s->get(), key);
    if (v && check_string(*v, row.spec, n, key)) out = std::move(*v);
  }

  template <class E>
    requires std::is_enum_v<E>
  void set(E& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    const auto* s = n.as_string();
    if (!s) return type_error(n, key, fmt::format("a string (one of {})", choices_text(row.spec.choices)));
    auto v = expand(n, s->get(), key);
    if (!v) return;
    const auto& choices = row.spec.choices;
    auto it = std::find(choices.begin(), choices.end(), std::string_view(*v));
    if (it == choices.end()) return not_a_choice(*v, row.spec, n, key);
    out = static_cast<E>(it - choices.begin());
  }

  void set(std::uint32_t& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    if (auto v = read_unsigned(row, n, key)) out = static_cast<std::uint32_t>(*v);
  }

  void set(std::uint64_t& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    if (auto v = read_unsigned(row, n, key)) out = *v;
  }

  void set(Millis& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    if (auto v = read_unsigned(row, n, key)) out = Millis{static_cast<Millis::rep>(*v)};
  }

  void set(double& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    double v = 0;
    if (auto f = n.value_exact<double>()) v = *f;
    else if (auto i = n.value_exact<std::int64_t>()) v = static_cast<double>(*i);
    else return type_error(n, key, "a number");
    if (!(v >= row.spec.fmin && v <= row.spec.fmax))
      return fail(n.source(), key, fmt::format("{} is out of range [{}, {}]", format_real(v), format_real(row.spec.fmin),
                                               format_real(row.spec.fmax)));
    out = v;
  }

  void set(StringList& out, const KeyRow& row, const toml::node& n, const std::string& key) {
    const auto* a = n.as_array();
    if (!a) return type_error(n, key, "an array of strings");
    StringList list;
    bool ok = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = (*a)[i];
      std::string ekey = fmt::format("{}[{}]", key, i);
      where_.emplace(ekey, e.source());
      const auto* s = e.as_string();
      std::optional<std::string> v;
      if (!s) type_error(e, ekey, "a string");
      else v = expand(e, s->get(), ekey);
      if (v && check_string(*v, row.spec, e, ekey)) list.push_back(std::move(*v));
      else ok = false;
    }
    if (ok) out = std::move(list);
  }

  void not_a_choice(std::string_view v, const Spec& sp, const toml::node& n, const std::string& key) {
    fail(n.source(), key, fmt::format("{} is not allowed; expected one of {}", shown(key, v, sp.is_secret), choices_text(sp.choices)));
  }

  bool check_string(std::string_view v, const Spec& sp, const toml::node& n, const std::string& key) {
    if (!sp.choices.empty() && std::find(sp.choices.begin(), sp.choices.end(), v) == sp.choices.end()) {
      not_a_choice(v, sp, n, key);
      return false;
    }
    if (sp.max_len && v.size() > sp.max_len) {
      fail(n.source(), key, fmt::format("is {} bytes long; at most {} allowed", v.size(), sp.max_len));
      return false;
    }
    std::optional<std::string> problem;
    const std::string show = shown(key, v, sp.is_secret);
    switch (sp.check) {
      case Check::none: break;
      case Check::listen:
        // The detail quotes parts of the value: left out for an expanded one.
        if (auto p = listen_problem(v))
          problem = fmt::format("{} is not a listen address{}{} (expected numeric \"host:port\", e.g. \"127.0.0.1:7700\" or \"[::1]:7700\")",
                                show, refs_.contains(key) ? "" : ": ", refs_.contains(key) ? "" : *p);
        break;
      case Check::http_url: problem = url_problem(v, show, "http://", "https://"); break;
      case Check::name: problem = name_problem(v, show); break;
      case Check::notify: problem = notify_problem(v, show); break;
      case Check::http_header:
        if (auto p = RequestHeaders::line_problem(v); !p.empty()) problem = std::string(p);  // never the value
        break;
      case Check::close_rule: {
        CloseRule r;
        if (const char* why = parse_close_rule(v, r)) problem = fmt::format("{} is not a close-code rule: {}", show, why);
        break;
      }
      case Check::bearer_token:
        if (const char* why = bearer_token_problem(v)) problem = fmt::format("the token {}", why);  // never the value
        break;
    }
    if (problem) {
      fail(n.source(), key, std::move(*problem));
      return false;
    }
    return true;
  }

  // An integer, size or duration (per row.form), range-checked against the row's spec.
  std::optional<std::uint64_t> read_unsigned(const KeyRow& row, const toml::node& n, const std::string& key) {
    const Spec& sp = row.spec;
    std::uint64_t v = 0;
    const auto* s = n.as_string();
    if (auto i = n.value_exact<std::int64_t>()) {
      if (*i < 0) {
        fail(n.source(), key, fmt::format("{} is below the minimum {}", *i, format_number(sp.min, row.form)));
        return std::nullopt;
      }
      v = static_cast<std::uint64_t>(*i);
    } else if (s && (row.form == Form::duration || row.form == Form::size)) {
      auto text = expand(n, s->get(), key);
      if (!text) return std::nullopt;
      bool duration = row.form == Form::duration;
      if (!(duration ? parse_scaled(*text, kDurationUnits, row.type_max, v)
                     : parse_scaled(*text, kSizeUnits, std::numeric_limits<std::uint64_t>::max(), v))) {
        fail(n.source(), key, fmt::format("bad {} {}: expected {}", duration ? "duration" : "size", shown(key, *text, sp.is_secret),
                                          duration ? kDurationSyntax : kSizeSyntax));
        return std::nullopt;
      }
    } else {
      std::string_view expected = row.form == Form::duration ? "an integer (milliseconds) or a duration string like \"5s\""
                                  : row.form == Form::size   ? "an integer (bytes) or a size string like \"16KiB\""
                                                             : "an integer";
      type_error(n, key, expected);
      return std::nullopt;
    }
    // An expanded value is named by its reference, not by the number it gave.
    std::string val = refs_.contains(key) ? shown(key, "", false) : format_number(v, row.form);
    if (v < sp.min) {
      fail(n.source(), key, fmt::format("{} is below the minimum {}", val, format_number(sp.min, row.form)));
      return std::nullopt;
    }
    if (v > sp.max) {
      std::string max = format_number(sp.max, row.form);
      switch (sp.cap) {
        case Cap::pool: fail(n.source(), key, fmt::format("{} exceeds the compiled capacity {} of pool '{}'", val, max, sp.cap_name)); break;
        case Cap::limit: fail(n.source(), key, fmt::format("{} exceeds the compiled limit {} ({})", val, max, sp.cap_name)); break;
        case Cap::none: fail(n.source(), key, fmt::format("{} exceeds the maximum {}", val, max)); break;
      }
      return std::nullopt;
    }
    return v;
  }

  // -- rules across keys (documented in config_reference_markdown's "Rules across keys") --

  void check_cross(Config& c) {
    // ingest.max_connections follows the ingest_conn pool limit and may not exceed it.
    std::uint32_t ingest_pool = c.pool_limit(budget::PoolId::ingest_conn);
    if (where_.contains("ingest.max_connections")) {
      if (c.ingest.max_connections > ingest_pool)
        fail_key("ingest.max_connections", fmt::format("{} exceeds the [pools] ingest_conn limit {}", c.ingest.max_connections, ingest_pool));
    } else {
      c.ingest.max_connections = ingest_pool;
    }

    std::set<std::string_view> source_names{kIngestSourceName};
    for (std::size_t i = 0; i < c.sources.size(); ++i) {
      const SourceConfig& s = c.sources[i];
      std::string p = fmt::format("source[{}]", i);
      if (s.name == kIngestSourceName)
        fail_key(p + ".name", "\"ingest\" is reserved for the TCP/HTTP ingest source");
      else if (!source_names.insert(s.name).second)
        fail_key(p + ".name", fmt::format("duplicate source name {}", shown(p + ".name", s.name, false)));
      std::string url = shown(p + ".url", s.url, true);
      auto bad = s.type == "websocket" ? url_problem(s.url, url, "ws://", "wss://")
                 : s.type == "mqtt"    ? url_problem(s.url, url, "mqtt://", "mqtts://")
                                       : url_problem(s.url, url, "http://", "https://");
      if (s.type == "mqtt" && s.topics.empty()) fail_key(p + ".topics", "type = \"mqtt\" needs topics");
      if (s.type != "mqtt" && !s.topics.empty()) fail_key(p + ".type", "topics are set: type must be \"mqtt\"");
      if (!s.password.empty() && s.username.empty()) fail_key(p + ".password", "a password needs a username");
      if (bad) fail_key(p + ".url", fmt::format("{} (type {})", *bad, shown(p + ".type", s.type, false)));
      check_tls_pair(s.client_cert, s.client_key, p);
      check_backoff(s.backoff_base, s.backoff_cap, p);
      check_source_jobs(s, p);
      if (s.close_codes.size() > kMaxCloseRules)
        fail_key(p + ".close_codes", fmt::format("{} rules; at most {} allowed", s.close_codes.size(), kMaxCloseRules));
      if (!s.reply.empty() && s.type != "websocket") fail_key(p + ".reply", "only websocket sources reply");
      for (std::size_t j = 0; j < s.reply.size(); ++j) check_reply(s.reply[j], fmt::format("{}.reply[{}]", p, j));
    }
    std::uint32_t source_pool = c.pool_limit(budget::PoolId::source_conn);
    if (c.sources.size() > source_pool)
      fail_key(fmt::format("source[{}]", source_pool),
               fmt::format("{} sources need one connection each; the [pools] source_conn limit is {}", c.sources.size(), source_pool));
    std::uint32_t source_slots = c.pool_limit(budget::PoolId::source);
    if (c.sources.size() > source_slots)
      fail_key(fmt::format("source[{}]", source_slots),
               fmt::format("{} sources need one slot each; the [pools] source limit is {}", c.sources.size(), source_slots));

    std::set<std::string_view> sink_names;
    std::uint32_t sink_conns = 0;
    std::uint32_t sink_pool = c.pool_limit(budget::PoolId::sink_conn);
    for (std::size_t i = 0; i < c.sinks.size(); ++i) {
      const SinkConfig& s = c.sinks[i];
      std::string p = fmt::format("sink[{}]", i);
      if (!sink_names.insert(s.name).second) fail_key(p + ".name", fmt::format("duplicate sink name {}", shown(p + ".name", s.name, false)));
      for (std::size_t j = 0; j < s.sources.size(); ++j) {
        std::string k = fmt::format("{}.sources[{}]", p, j);
        if (!source_names.contains(s.sources[j]))
          fail_key(k, fmt::format("unknown source {} (not \"ingest\" nor any [[source]] name)", shown(k, s.sources[j], false)));
      }
      if (s.breaker_probes > s.max_connections)
        fail_key(p + ".breaker_probes", fmt::format("{} exceeds this sink's max_connections {}", s.breaker_probes, s.max_connections));
      sink_conns += s.max_connections;
      if (sink_conns > sink_pool)
        fail_key(p + ".max_connections", fmt::format("sinks need {} connections in total, above the [pools] sink_conn limit {}", sink_conns, sink_pool));
      check_tls_pair(s.client_cert, s.client_key, p);
      check_backoff(s.backoff_base, s.backoff_cap, p);
      check_sink_request(s, p);
    }

    if (c.store.sqlite_heap_limit >= c.watchdog.memory_budget)
      fail_key("store.sqlite_heap_limit", fmt::format("{} must be below watchdog.memory_budget {}", format_size(c.store.sqlite_heap_limit),
                                                      format_size(c.watchdog.memory_budget)));
    if (std::uint64_t{c.store.cache_kib} * KiB > c.store.sqlite_heap_limit)
      fail_key("store.cache_kib", fmt::format("{} KiB does not fit in store.sqlite_heap_limit {}", c.store.cache_kib,
                                              format_size(c.store.sqlite_heap_limit)));
    check_listener_tls(c.ingest.tls_cert, c.ingest.tls_key, c.ingest.tls_client_ca, "ingest");
    check_listener_tls(c.admin.tls_cert, c.admin.tls_key, c.admin.tls_client_ca, "admin");
    if (c.watchdog.timeout <= c.watchdog.period)
      fail_key("watchdog.timeout", fmt::format("{} must be longer than watchdog.period {}", format_duration(c.watchdog.timeout),
                                               format_duration(c.watchdog.period)));
  }

  // A sink's request shape: its headers together, format, body (a template) and filter.
  void check_sink_request(const SinkConfig& s, const std::string& p) {
    const bool mqtt = s.type == "mqtt";
    if (auto bad = mqtt ? url_problem(s.url, shown(p + ".url", s.url, true), "mqtt://", "mqtts://")
                        : url_problem(s.url, shown(p + ".url", s.url, true), "http://", "https://"))
      fail_key(p + ".url", *bad);
    if (mqtt && s.topic.empty()) fail_key(p + ".topic", "type = \"mqtt\" needs a topic");
    if (!mqtt && !s.topic.empty()) fail_key(p + ".type", "a topic is set: type must be \"mqtt\"");
    if (!s.password.empty() && s.username.empty()) fail_key(p + ".password", "a password needs a username");
    if (!s.topic.empty())
      if (auto why = text_template_problem(s.topic); !why.empty()) fail_key(p + ".topic", "bad template: " + why);
    RequestHeaders h;
    std::string why;
    if (!h.assign(s.headers, why)) fail_key(p + ".headers", why);  // names the header, never its value
    if (s.format == "template" && s.body.empty()) fail_key(p + ".body", "format = \"template\" needs a body");
    if (s.format != "template" && !s.body.empty()) fail_key(p + ".format", "a body is set: format must be \"template\"");
    if (!s.filter.empty())
      if (auto why = filter_problem(s.filter); !why.empty()) fail_key(p + ".filter", "bad filter: " + why);
    if (!s.body.empty())
      if (auto why = json_template_problem(s.body); !why.empty()) fail_key(p + ".body", "bad template: " + why);
  }

  // A reply's `when` must compile as a filter and its `send` as a text template.
  void check_reply(const SourceReplyConfig& r, const std::string& p) {
    if (std::string why = filter_problem(r.when); !why.empty()) fail_key(p + ".when", "not a filter: " + why);
    if (std::string why = r.send.empty() ? std::string() : text_template_problem(r.send); !why.empty())
      fail_key(p + ".send", "not a template: " + why);
  }

  void check_tls_pair(const std::string& cert, const std::string& key, const std::string& p) {
    if (cert.empty() != key.empty())
      fail_key(p + (cert.empty() ? ".client_key" : ".client_cert"), "client_cert and client_key must be set together");
  }

  // A listener's TLS files: set together, the key private to its owner, every file loadable
  // (loaded once here, so a bad file stops start-up and check-config with exit 2).
  void check_listener_tls(const std::string& cert, const std::string& key, const std::string& ca, const std::string& p) {
    if (cert.empty() && key.empty()) {
      if (!ca.empty()) fail_key(p + ".tls_client_ca", "needs tls_cert and tls_key (mutual TLS is TLS)");
      return;
    }
    if (cert.empty() != key.empty()) {
      fail_key(p + (cert.empty() ? ".tls_cert" : ".tls_key"), "tls_cert and tls_key must be set together");
      return;
    }
    TlsServerConfig probe;
    std::string why;
    if (!probe.init(TlsServerOptions{cert, key, ca}, why)) return;
    const char* which = why.starts_with("tls_key") ? ".tls_key" : why.starts_with("tls_client_ca") ? ".tls_client_ca" : ".tls_cert";
    fail_key(p + which, why);
  }

  void check_backoff(Millis base, Millis cap, const std::string& p) {
    if (cap < base)
      fail_key(p + ".backoff_cap", fmt::format("{} is shorter than backoff_base {}", format_duration(cap), format_duration(base)));
  }
};

// ---- Rendering -------------------------------------------------------------------------------

std::string render_value(const KeyRow& row, void* obj) {
  return std::visit(
      [&](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return quoted(escape_references(*p));
        else if constexpr (std::is_enum_v<T>) {
          auto i = static_cast<std::size_t>(*p);
          return i < row.spec.choices.size() ? quoted(row.spec.choices[i]) : quoted("?");
        } else if constexpr (std::is_same_v<T, Millis>) return quoted(format_duration(*p));
        else if constexpr (std::is_same_v<T, double>) return format_real(*p);
        else if constexpr (std::is_same_v<T, StringList>) {
          std::string out = "[";
          for (std::size_t i = 0; i < p->size(); ++i) out += (i ? ", " : "") + quoted(escape_references((*p)[i]));
          return out + "]";
        } else {
          if (row.form == Form::size) {
            std::string s = format_size(*p);
            return s.find_first_not_of("0123456789") == std::string::npos ? s : quoted(s);
          }
          return std::to_string(*p);
        }
      },
      row.field(obj));
}

const ConfigReference* find_reference(const Config& c, std::string_view key) {
  for (const ConfigReference& r : c.references)
    if (r.key == key) return &r;
  return nullptr;
}

// One string as render_config shows it: a reference as written, a secret literal as "***".
std::string shown_string(const Config& c, std::string_view key, const std::string& value, bool secret) {
  if (const ConfigReference* r = find_reference(c, key)) return quoted(r->text);
  if (secret && !value.empty()) return quoted("***");
  return quoted(escape_references(value));
}

// A value as render_config shows it (render_value when nothing is hidden). `key` as in ConfigError.
std::string render_shown(const KeyRow& row, void* obj, const Config& c, const std::string& key) {
  FieldRef f = row.field(obj);
  if (auto* list = std::get_if<StringList*>(&f)) {
    std::string out = "[";
    for (std::size_t i = 0; i < (*list)->size(); ++i)
      out += (i ? ", " : "") + shown_string(c, fmt::format("{}[{}]", key, i), (**list)[i], row.spec.is_secret);
    return out + "]";
  }
  if (auto* str = std::get_if<std::string*>(&f)) return shown_string(c, key, **str, row.spec.is_secret);
  if (const ConfigReference* r = find_reference(c, key)) return quoted(r->text);  // a duration, size or name
  return render_value(row, obj);
}

// Appends "key = value" lines for one section instance; `help` adds a comment line above each,
// `prefix` goes before every line (the commented-out examples use "# "). With `shown_from`, values
// are shown as render_config shows them (references, "***"), `key_prefix` naming the instance
// ("store", "sink[0]"); without, as they are.
void render_rows(std::string& out, std::span<const KeyRow> rows, void* obj, bool help, std::string_view prefix,
                 const Config* shown_from, std::string_view key_prefix) {
  for (const KeyRow& r : rows) {
    if (help) out += fmt::format("{}# {}\n", prefix, r.help);
    std::string_view lead = help && r.spec.implied && prefix.empty() ? "# " : prefix;
    std::string value = shown_from ? render_shown(r, obj, *shown_from, fmt::format("{}.{}", key_prefix, r.name)) : render_value(r, obj);
    out += fmt::format("{}{} = {}\n", lead, r.name, value);
  }
}

std::string render(const Config& cfg_in, bool help) {
  Config c = cfg_in;  // the section accessors take a mutable Config; render never changes it
  std::string out;
  if (help) {
    out += "# bulkhead configuration (TOML). Every key is optional unless marked required, and shown\n"
           "# here with its default. Durations: integer milliseconds or \"250ms\", \"5s\", \"2m\", \"1h\", \"7d\".\n"
           "# Sizes: integer bytes or \"16KiB\", \"10MiB\", \"1GiB\" (KB/MB/GB are powers of 1000).\n";
  }
  for (const Section& s : kSections) {
    if (s.shape == Shape::pools) {
      out += help ? fmt::format("\n# {}\n[pools]\n", s.help) : "\n[pools]\n";
      for (std::size_t i = 0; i < budget::kPools.size(); ++i) {
        const auto& p = budget::kPools[i];
        if (help) out += fmt::format("# {} = {}  # {}\n", p.name, c.pool_limits[i], p.description);
        else out += fmt::format("{} = {}\n", p.name, c.pool_limits[i]);
      }
      continue;
    }
    std::size_t n = s.count(c);
    if (s.shape == Shape::table) {
      out += help ? fmt::format("\n# {}\n[{}]\n", s.help, s.name) : fmt::format("\n[{}]\n", s.name);
      render_rows(out, s.rows, s.at(c, 0), help, "", &c, s.name);
      continue;
    }
    if (help) out += fmt::format("\n# {}\n", s.help);
    for (std::size_t i = 0; i < n; ++i) {
      out += fmt::format("\n[[{}]]\n", s.name);
      render_rows(out, s.rows, s.at(c, i), help, "", &c, fmt::format("{}[{}]", s.name, i));
      for (const SubArray& sub : s.subs) {
        for (std::size_t j = 0; j < sub.count(s.at(c, i)); ++j) {
          out += fmt::format("\n[[{}.{}]]\n", s.name, sub.name);
          render_rows(out, sub.rows, sub.at(s.at(c, i), j), help, "", &c, fmt::format("{}[{}].{}[{}]", s.name, i, sub.name, j));
        }
      }
    }
    if (n == 0 && help) {
      // A commented-out example element: the required keys get sample values.
      Config ex;
      void* e = s.append(ex);
      if (s.name == "sink") {
        auto* sink = static_cast<SinkConfig*>(e);
        sink->name = "archive";
        sink->url = "https://collector.example.com/v1/events";
      } else {
        auto* src = static_cast<SourceConfig*>(e);
        src->name = "feed";
        src->type = "http_poll";
        src->url = "https://api.example.com/events.ndjson";
        src->split = "ndjson";
      }
      out += fmt::format("# [[{}]]\n", s.name);
      render_rows(out, s.rows, e, false, "# ", nullptr, {});
    }
  }
  return out;
}

// ---- Docs ------------------------------------------------------------------------------------

std::string_view form_name(Form f) {
  switch (f) {
    case Form::boolean: return "bool";
    case Form::string: return "string";
    case Form::choice: return "enum";
    case Form::integer: return "integer";
    case Form::size: return "size";
    case Form::duration: return "duration";
    case Form::real: return "float";
    case Form::list: return "string array";
  }
  return "?";
}

std::string allowed_text(const KeyRow& r) {
  const Spec& sp = r.spec;
  std::string out;
  auto add = [&](std::string s) { out += (out.empty() ? "" : "; ") + s; };
  if (sp.required) add("**required**");
  switch (r.form) {
    case Form::integer:
    case Form::size:
    case Form::duration: {
      std::string range = fmt::format("{} .. {}", format_number(sp.min, r.form), format_number(sp.max, r.form));
      if (sp.cap == Cap::pool) range += fmt::format(" (capacity of pool `{}`)", sp.cap_name);
      if (sp.cap == Cap::limit) range += fmt::format(" (`{}`)", sp.cap_name);
      add(range);
      break;
    }
    case Form::real: add(fmt::format("{} .. {}", format_real(sp.fmin), format_real(sp.fmax))); break;
    case Form::choice: {
      std::string c;
      for (std::string_view v : sp.choices) c += fmt::format("{}`{}`", c.empty() ? "" : ", ", quoted(v));
      add(c);
      break;
    }
    default: break;
  }
  switch (sp.check) {
    case Check::none: break;
    case Check::listen: add("numeric `host:port`"); break;
    case Check::http_url: add("`http://` or `https://` URL"); break;
    case Check::name: add("name: 1..64 of `A-Z a-z 0-9 _ - .`"); break;
    case Check::notify: add("`\"auto\"`, `\"off\"`, `/path` or `@abstract`"); break;
    case Check::http_header: add("`Name: value` lines: token names, no CR/LF or control bytes, at most 512 bytes each"); break;
    case Check::close_rule: add("rules `\"LO-HI=stop\"`, `\"=backoff\"`, `\"=reconnect\"`, codes 1000..4999"); break;
    case Check::bearer_token: add("empty, or 16..256 of `A-Z a-z 0-9 - . _ ~ + /` (then `=`s)"); break;
  }
  if (sp.max_len) add(fmt::format("at most {} bytes", sp.max_len));
  if (sp.is_secret) add("**secret**");
  return out.empty() ? "any" : out;
}

}  // namespace

// ---- Public API ------------------------------------------------------------------------------

std::uint32_t Config::pool_limit(std::string_view pool_name) const {
  auto i = pool_index(pool_name);
  return i ? pool_limits[*i] : 0;
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line) out += fmt::format(":{}:{}", line, column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

bool parse_duration(std::string_view s, Millis& out) {
  std::uint64_t v = 0;
  if (!parse_scaled(s, kDurationUnits, static_cast<std::uint64_t>(std::numeric_limits<Millis::rep>::max()), v)) return false;
  out = Millis{static_cast<Millis::rep>(v)};
  return true;
}

bool parse_size(std::string_view s, std::uint64_t& out) {
  return parse_scaled(s, kSizeUnits, std::numeric_limits<std::uint64_t>::max(), out);
}

std::string format_duration(Millis d) {
  auto v = d.count();
  if (v <= 0) return fmt::format("{}ms", v);
  auto u = static_cast<std::uint64_t>(v);
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it)
    if (u % it->factor == 0) return fmt::format("{}{}", u / it->factor, it->suffix);
  return fmt::format("{}ms", v);
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  for (const Unit& u : {Unit{"TiB", TiB}, Unit{"GiB", GiB}, Unit{"MiB", MiB}, Unit{"KiB", KiB}})
    if (bytes % u.factor == 0) return fmt::format("{}{}", bytes / u.factor, u.suffix);
  return std::to_string(bytes);
}

std::variant<Config, ConfigError> load_config_string(std::string_view toml, std::string_view origin) {
  try {
    return Loader(origin).run(toml);
  } catch (const std::exception& e) {
    return ConfigError{std::string(origin), 0, 0, "", fmt::format("internal error: {}", e.what())};
  } catch (...) {
    return ConfigError{std::string(origin), 0, 0, "", "internal error"};
  }
}

std::variant<Config, ConfigError> load_config_file(const std::string& path) {
  try {
    std::FILE* f = std::fopen(path.c_str(), "rbe");
    if (!f) return ConfigError{path, 0, 0, "", fmt::format("cannot open: {}", std::strerror(errno))};
    std::string text;
    char buf[8192];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    bool failed = std::ferror(f) != 0;
    int err = errno;
    std::fclose(f);
    if (failed) return ConfigError{path, 0, 0, "", fmt::format("cannot read: {}", std::strerror(err))};
    return load_config_string(text, path);
  } catch (const std::exception& e) {
    return ConfigError{path, 0, 0, "", fmt::format("internal error: {}", e.what())};
  } catch (...) {
    return ConfigError{path, 0, 0, "", "internal error"};
  }
}

std::string_view default_config_toml() {
  static const std::string text = render(Config{}, true);
  return text;
}

std::string render_config(const Config& c) {
  std::string out = fmt::format("# effective config, from {}\n", c.origin.empty() ? std::string("?") : c.origin);
  return out + render(c, false);
}

std::vector<std::string> literal_secret_keys(const Config& cfg_in) {
  Config c = cfg_in;  // the section accessors take a mutable Config
  std::vector<std::string> keys;
  auto note = [&](const std::string& key, const std::string& value) {
    if (!value.empty() && !find_reference(c, key)) keys.push_back(key);
  };
  for (const Section& s : kSections) {
    if (s.shape == Shape::pools) continue;
    for (std::size_t i = 0; i < s.count(c); ++i) {
      std::string prefix = s.shape == Shape::table ? std::string(s.name) : fmt::format("{}[{}]", s.name, i);
      for (const KeyRow& r : s.rows) {
        if (!r.spec.is_secret) continue;
        std::string key = fmt::format("{}.{}", prefix, r.name);
        FieldRef f = r.field(s.at(c, i));
        if (auto* str = std::get_if<std::string*>(&f)) note(key, **str);
        if (auto* list = std::get_if<StringList*>(&f))
          for (std::size_t j = 0; j < (*list)->size(); ++j) note(fmt::format("{}[{}]", key, j), (**list)[j]);
      }
    }
  }
  return keys;
}

std::vector<std::string> literal_secret_values(const Config& c) {
  std::vector<std::string> out;
  if (!c.admin.token.empty() && !find_reference(c, "admin.token")) out.push_back(c.admin.token);
  auto credential = [](std::string name) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (name == "authorization" || name == "proxy-authorization" || name == "cookie") return true;
    for (std::string_view part : {"token", "key", "secret", "auth", "pass"})
      if (name.find(part) != std::string::npos) return true;
    return false;
  };
  for (std::size_t i = 0; i < c.sinks.size(); ++i) {
    for (std::size_t j = 0; j < c.sinks[i].headers.size(); ++j) {
      const std::string& line = c.sinks[i].headers[j];
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos || find_reference(c, fmt::format("sink[{}].headers[{}]", i, j))) continue;
      if (!credential(line.substr(0, colon))) continue;
      std::string_view value = std::string_view(line).substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      out.emplace_back(value);
      // "Bearer <t>", "Basic <t>": the credential after the scheme, for a server that echoes only it.
      if (const std::size_t sp = value.find(' '); sp != std::string_view::npos) out.emplace_back(value.substr(sp + 1));
    }
  }
  return out;
}

std::vector<std::string> config_warnings(const Config& c) {
  std::vector<std::string> out;
  // A listener anyone on the network may reach, with nothing asked of who connects.
  asio::ip::tcp::endpoint ep;
  if (c.admin.enabled && c.admin.token.empty() && c.admin.tls_client_ca.empty() && parse_listen(c.admin.listen, ep) && !ep.address().is_loopback())
    out.push_back(fmt::format("{}: admin.listen: {} is not a loopback address and neither admin.token nor admin.tls_client_ca "
                              "is set: whoever reaches it can post events and replay or purge dead letters; set "
                              "admin.token (\"${{file:PATH}}\") or listen on 127.0.0.1",
                              c.origin, c.admin.listen));
  struct stat st{};
  if (c.origin != kEmbeddedOrigin && ::stat(c.origin.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    for (const std::string& key : literal_secret_keys(c))
      out.push_back(fmt::format("{}: {}: holds a literal secret and the file is readable by {} (mode {:04o}); "
                                "use \"${{env:NAME}}\" or \"${{file:PATH}}\", or chmod go-rwx",
                                c.origin, key, (st.st_mode & 007) ? "others" : "its group", st.st_mode & 07777));
  }
  // Ingest reachable from other machines with no client authentication: anyone there can write events.
  if (c.ingest.tls_client_ca.empty() && parse_listen(c.ingest.listen, ep) && !ep.address().is_loopback())
    out.push_back(fmt::format("{}: ingest.listen: {} is not a loopback address and ingest.tls_client_ca is not set: "
                              "any host that reaches it can write events (set tls_cert, tls_key and tls_client_ca)",
                              c.origin, c.ingest.listen));
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const Section& s : kSections) {
    if (s.shape == Shape::pools) {
      for (const auto& p : budget::kPools) keys.push_back(fmt::format("pools.{}", p.name));
      continue;
    }
    for (const KeyRow& r : s.rows) keys.push_back(fmt::format("{}.{}", s.name, r.name));
  }
  return keys;
}

std::string config_reference_markdown() {
  Config defaults;
  std::string out =
      "# Configuration reference\n\n"
      "<!-- Generated by bh::config_reference_markdown() from the key tables in firmware/config.hpp. -->\n\n"
      "bulkhead reads one TOML file at start-up (without one it uses the embedded default, which\n"
      "lists every key with its default). Every key is optional unless marked **required**; an unknown section or key,\n"
      "a value of the wrong type or out of range, or a limit above a compiled capacity stops start-up\n"
      "with `FILE:LINE:COL: KEY: message`. The `config` console command prints the effective config.\n\n"
      "Value syntax:\n\n"
      "- **bool**, **string**, **integer**, **float**: TOML's (strict: `\"5\"` is not an integer; a float takes an integer).\n"
      "- **duration**: an integer (milliseconds) or a string: a whole number and a unit `ms`, `s`, `m`,\n"
      "  `h`, `d`, no space: `\"250ms\"`, `\"5s\"`, `\"2m\"`, `\"1h\"`, `\"7d\"`.\n"
      "- **size**: an integer (bytes) or a string: a whole number and an optional unit, no space:\n"
      "  `\"512\"`, `\"512B\"`, `\"16KiB\"`, `\"10MiB\"`, `\"1GiB\"`, `\"1TiB\"` (powers of 1024), or `KB`, `MB`, `GB`, `TB`\n"
      "  (powers of 1000: `\"16KB\"` is 16000 bytes).\n"
      "- **enum**: one of the listed strings. Listen addresses are numeric: `\"127.0.0.1:7700\"`, `\"[::1]:7700\"`.\n"
      "- In error messages array elements are numbered from 0: `sink[1].batch_events` is the second `[[sink]]`.\n\n"
      "References: any string value (list items, duration and size strings too) may hold references, expanded\n"
      "at load: `${env:NAME}` (an environment variable; unset is an error), `${env:NAME:-default}` (the default\n"
      "when NAME is unset or empty), `${file:PATH}` (the file's content without trailing newlines, at most 64 KiB;\n"
      "a relative PATH is looked up in `$CREDENTIALS_DIRECTORY` when set, as systemd's `LoadCredential=` provides,\n"
      "else next to the config file). `$${` is a literal `${`. A reference ends at the first `}` and does not nest.\n"
      "Values from a reference are secrets, shown as the reference and never in any output; keys marked **secret**\n"
      "are shown as `***` when written literally ([security.md](security.md#secrets)).\n";
  for (const Section& s : kSections) {
    if (s.shape == Shape::pools) {
      // The pools themselves (FDs, bytes, what each holds) are budget.md's table: named here once.
      out += fmt::format("\n## [pools]\n\n{} Keys, with their capacities ([budget.md](budget.md) says what each holds):", s.help);
      const char* sep = " ";
      for (const auto& p : budget::kPools) {
        out += fmt::format("{}`{}` ({})", sep, p.name, p.capacity);
        sep = ", ";
      }
      out += ".\n";
      continue;
    }
    out += fmt::format("\n## {}\n\n{}\n\n| Key | Type | Default | Allowed | Meaning |\n|---|---|---|---|---|\n",
                       s.shape == Shape::array ? fmt::format("[[{}]]", s.name) : fmt::format("[{}]", s.name), s.help);
    void* obj = nullptr;
    SinkConfig sink;
    SourceConfig source;
    if (s.shape == Shape::table) obj = s.at(defaults, 0);
    else obj = s.name == "sink" ? static_cast<void*>(&sink) : static_cast<void*>(&source);
    auto rows_md = [&](std::span<const KeyRow> rows, void* o) {
      for (const KeyRow& r : rows) {
        std::string def = r.spec.required ? std::string("—") : fmt::format("`{}`", render_value(r, o));
        std::string help(r.help);
        std::replace(help.begin(), help.end(), '|', '/');
        out += fmt::format("| `{}` | {} | {} | {} | {} |\n", r.name, form_name(r.form), def, allowed_text(r), help);
      }
    };
    rows_md(s.rows, obj);
    for (const SubArray& sub : s.subs) {
      out += fmt::format("\n## [[{}.{}]]\n\n{}\n\n| Key | Type | Default | Allowed | Meaning |\n|---|---|---|---|---|\n",
                         s.name, sub.name, sub.help);
      rows_md(sub.rows, sub.append(obj));
    }
  }
  out +=
      "\n## Rules across keys\n\n"
      "- `ingest.max_connections` defaults to the `[pools] ingest_conn` limit and may not exceed it.\n"
      "- The sum of every sink's `max_connections` may not exceed the `[pools] sink_conn` limit.\n"
      "- There may be no more `[[source]]` tables than the `[pools] source_conn` limit (one connection each).\n"
      "- Sink names are unique; source names are unique and not `ingest` (the TCP/HTTP ingest source).\n"
      "- Every name in a sink's `sources` is `ingest` or the name of a `[[source]]`.\n"
      "- A `http_poll` source's `url` is `http://` or `https://`; a `websocket` source's is `ws://` or `wss://`; an `mqtt` source's is `mqtt://` or `mqtts://` and it needs `topics`.\n"
      "- A sink's `url` is `http://` or `https://`; with `type = \"mqtt\"` it is `mqtt://` or `mqtts://` and the sink needs a `topic`.\n"
      "- A `password` (sink or source) needs a `username`.\n"
      "- `client_cert` and `client_key` are set together or not at all.\n"
      "- `backoff_cap` is at least `backoff_base`; a sink's `breaker_probes` is at most its `max_connections`.\n"
      "- `store.sqlite_heap_limit` is below `watchdog.memory_budget`, and `store.cache_kib` fits in it.\n"
      "- `watchdog.timeout` is longer than `watchdog.period`.\n"
      "- A sink's `headers` are at most 16 lines and 1 KiB in all; `format = \"template\"` needs a `body`, and a `body` needs `format = \"template\"`; `body` compiles as a JSON template and `filter` as a filter expression.\n";
  return out;
}

}  // namespace bh
