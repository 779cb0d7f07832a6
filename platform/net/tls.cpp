// TLS client over Asio sockets with mbedTLS: configs, streams, BIO callbacks, the awaitables.
// mbedTLS's heap (counted, limited) is platform/alloc/tls_heap.cpp's.
#include "platform/net/tls.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_internal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/oid.h>

#include <asio/error.hpp>
#include <fmt/format.h>

#include <climits>
#include <cstring>

#include "platform/util/log.hpp"

namespace bh {

// ---- error category ------------------------------------------------------------------------------

namespace {
class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int c) const override {
    switch (static_cast<tls_errc>(c)) {
      case tls_errc::ok: return "ok";
      case tls_errc::config: return "TLS configuration could not be loaded";
      case tls_errc::handshake_failed: return "TLS handshake failed";
      case tls_errc::verify_failed: return "TLS certificate verification failed";
      case tls_errc::out_of_memory: return "TLS memory limit reached";
      case tls_errc::closed: return "TLS peer closed the connection";
      case tls_errc::io: return "TLS socket error";
    }
    return "unknown TLS error";
  }
};
}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory c;
  return c;
}

namespace {
// One random generator for every TLS context (mbedtls_entropy_context alone is 37 KiB). Process
// lifetime; seeded at the first TlsClientConfig::init.
struct Rng {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  int seeded = -1;
  Rng() noexcept {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static constexpr unsigned char kPers[] = "bulkhead-tls";
    seeded = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers, sizeof kPers - 1);
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};
Rng& rng() noexcept {
  static Rng r;
  return r;
}

std::string strerror_mbedtls(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof buf);
  return fmt::format("{} (-0x{:04x})", buf, static_cast<unsigned>(-ret));
}

std::uint32_t chain_length(const mbedtls_x509_crt& c) noexcept {
  std::uint32_t n = 0;
  for (const mbedtls_x509_crt* p = &c; p && p->raw.len; p = p->next) ++n;
  return n;
}

// True if the certificate's subjectAltName extension lists iPAddress `ip` (4 or 16 bytes).
// mbedTLS 2.28 keeps only dNSName/otherName entries in subject_alt_names, so the raw extensions
// are walked here: Extensions ::= SEQUENCE OF SEQUENCE { OID, critical BOOLEAN OPTIONAL, OCTET STRING }.
bool san_has_ip(const mbedtls_x509_crt& crt, const unsigned char* ip, std::size_t ip_len) noexcept {
  static constexpr unsigned char kSanOid[] = {0x55, 0x1d, 0x11};  // 2.5.29.17
  unsigned char* p = crt.v3_ext.p;
  if (!p || crt.v3_ext.len == 0) return false;
  const unsigned char* const ext_end = p + crt.v3_ext.len;
  std::size_t len = 0;
  if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return false;
  const unsigned char* const seq_end = p + len;
  while (p < seq_end) {
    if (mbedtls_asn1_get_tag(&p, seq_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return false;
    const unsigned char* const one_end = p + len;
    std::size_t oid_len = 0;
    if (mbedtls_asn1_get_tag(&p, one_end, &oid_len, MBEDTLS_ASN1_OID)) return false;
    const bool is_san = oid_len == sizeof kSanOid && std::memcmp(p, kSanOid, sizeof kSanOid) == 0;
    p += oid_len;
    if (!is_san) {
      p = const_cast<unsigned char*>(one_end);
      continue;
    }
    int critical = 0;
    (void)mbedtls_asn1_get_bool(&p, one_end, &critical);  // optional
    if (mbedtls_asn1_get_tag(&p, one_end, &len, MBEDTLS_ASN1_OCTET_STRING)) return false;
    if (mbedtls_asn1_get_tag(&p, one_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return false;
    const unsigned char* const names_end = p + len;
    while (p < names_end) {
      const unsigned char tag = *p++;
      if (mbedtls_asn1_get_len(&p, names_end, &len)) return false;
      if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && len == ip_len && std::memcmp(p, ip, ip_len) == 0) return true;
      p += len;
    }
    return false;
  }
  return false;
}

// A config key and the file it names ("tls_cert", "/etc/bulkhead/server.crt"), for errors.
struct KeyedFile {
  const char* key;
  const std::string& path;
};

// The own certificate + private key step of both configs (a client's for mutual TLS, a server's):
// parses the PEM files into `crt`/`pk`, checks the key is the certificate's, and hands the pair to
// `conf`. False with `error` naming the key and file on the first problem.
bool use_own_cert(mbedtls_ssl_config& conf, mbedtls_x509_crt& crt, mbedtls_pk_context& pk, KeyedFile cert,
                  KeyedFile key, std::string& error) {
  int ret = mbedtls_x509_crt_parse_file(&crt, cert.path.c_str());
  if (ret != 0) {
    error = fmt::format("{} {}: {}", cert.key, cert.path,
                        ret < 0 ? strerror_mbedtls(ret) : "a certificate in it cannot be parsed");
    return false;
  }
  ret = mbedtls_pk_parse_keyfile(&pk, key.path.c_str(), nullptr);
  if (ret != 0) {
    error = fmt::format("{} {}: {}", key.key, key.path, strerror_mbedtls(ret));
    return false;
  }
  if (mbedtls_pk_check_pair(&crt.pk, &pk) != 0) {
    error = fmt::format("{} {} does not match {} {}", key.key, key.path, cert.key, cert.path);
    return false;
  }
  ret = mbedtls_ssl_conf_own_cert(&conf, &crt, &pk);
  if (ret != 0) {
    error = "mbedtls_ssl_conf_own_cert: " + strerror_mbedtls(ret);
    return false;
  }
  return true;
}
}  // namespace

// ---- TlsClientConfig ------------------------------------------------------------------------------

TlsClientConfig::TlsClientConfig() noexcept {
  mbedtls_ssl_config_init(&conf_);
  mbedtls_x509_crt_init(&ca_);
  mbedtls_x509_crt_init(&own_cert_);
  mbedtls_pk_init(&own_key_);
  mbedtls_ssl_session_init(&session_);
}

TlsClientConfig::~TlsClientConfig() {
  mbedtls_ssl_session_free(&session_);
  mbedtls_pk_free(&own_key_);
  mbedtls_x509_crt_free(&own_cert_);
  mbedtls_x509_crt_free(&ca_);
  mbedtls_ssl_config_free(&conf_);
}

std::error_code TlsClientConfig::init(const TlsOptions& o, std::string_view host, std::string& error) {
  const auto cfg_error = make_error_code(tls_errc::config);
  if (ready_) {
    error = "TLS configured twice";
    return cfg_error;
  }
  alloc::tls_heap_route();  // before mbedTLS first allocates
  Rng& r = rng();
  if (r.seeded != 0) {
    error = "cannot seed the random generator: " + strerror_mbedtls(r.seeded);
    return cfg_error;
  }
  if (host.empty() || host.size() >= sizeof host_) {
    error = "host name empty or too long";
    return cfg_error;
  }
  std::memcpy(host_, host.data(), host.size());
  host_[host.size()] = '\0';
  host_len_ = host.size();
  host_is_ip_ = false;
  if (inet_pton(AF_INET, host_, host_ip_) == 1) {
    host_is_ip_ = true;
    host_ip_len_ = 4;
  } else if (inet_pton(AF_INET6, host_, host_ip_) == 1) {
    host_is_ip_ = true;
    host_ip_len_ = 16;
  }
  verify_ = o.verify;

  int ret = mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret) {
    error = "mbedtls_ssl_config_defaults: " + strerror_mbedtls(ret);
    return cfg_error;
  }
  mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &r.drbg);
  mbedtls_ssl_conf_session_tickets(&conf_, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  mbedtls_ssl_conf_renegotiation(&conf_, MBEDTLS_SSL_RENEGOTIATION_DISABLED);

  if (verify_) {
    const std::string& path = o.ca_file.empty() ? std::string(kSystemCaBundle) : o.ca_file;
    ret = mbedtls_x509_crt_parse_file(&ca_, path.c_str());
    ca_count_ = chain_length(ca_);
    if (ret < 0 || ca_count_ == 0) {
      error = fmt::format("ca_file {}: {}", path, ret < 0 ? strerror_mbedtls(ret) : "no certificate in it");
      return cfg_error;
    }
    if (ret > 0) log::info("tls: {}: {} certificate(s) mbedTLS cannot parse were skipped", path, ret);
    mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_verify(&conf_, &TlsClientConfig::verify_cb, this);
  } else {
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_NONE);
  }

  if (!o.client_cert.empty() || !o.client_key.empty()) {
    if (o.client_cert.empty() || o.client_key.empty()) {
      error = "client_cert and client_key must be set together";
      return cfg_error;
    }
    if (!use_own_cert(conf_, own_cert_, own_key_, {"client_cert", o.client_cert}, {"client_key", o.client_key}, error))
      return cfg_error;
  }
  ready_ = true;
  return {};
}

// Called by mbedTLS for each certificate of the chain after its own checks. For an IP-literal host
// (no SNI, no name given to mbedTLS) the leaf must list that address as an iPAddress SAN.
int TlsClientConfig::verify_cb(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  const auto* c = static_cast<const TlsClientConfig*>(self);
  if (depth != 0 || !c->host_is_ip_) return 0;
  if (!san_has_ip(*crt, c->host_ip_, c->host_ip_len_)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

// ---- TlsServerConfig ------------------------------------------------------------------------------

namespace {
// TLS 1.2 with forward secrecy and AEAD only (mbedTLS keeps the pointer: static).
constexpr int kServerSuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,         MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0};
}  // namespace

std::string tls_key_file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fmt::format("cannot open {}: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fmt::format("{} is not a regular file", path);
  if (st.st_mode & 077)
    return fmt::format("private key {} is readable by {} (mode {:04o}); chmod go-rwx it", path,
                       (st.st_mode & 007) ? "others" : "its group", st.st_mode & 07777);
  if (::access(path.c_str(), R_OK) != 0) return fmt::format("cannot read {}: {}", path, std::strerror(errno));
  return {};
}

TlsServerConfig::TlsServerConfig() noexcept {
  mbedtls_ssl_config_init(&conf_);
  mbedtls_x509_crt_init(&ca_);
  mbedtls_x509_crt_init(&own_cert_);
  mbedtls_pk_init(&own_key_);
}

TlsServerConfig::~TlsServerConfig() {
  mbedtls_pk_free(&own_key_);
  mbedtls_x509_crt_free(&own_cert_);
  mbedtls_x509_crt_free(&ca_);
  mbedtls_ssl_config_free(&conf_);
}

std::error_code TlsServerConfig::init(const TlsServerOptions& o, std::string& error) {
  const auto cfg_error = make_error_code(tls_errc::config);
  if (ready_) {
    error = "TLS configured twice";
    return cfg_error;
  }
  if (o.cert_file.empty() || o.key_file.empty()) {
    error = "tls_cert and tls_key must be set together";
    return cfg_error;
  }
  if (std::string why = tls_key_file_problem(o.key_file); !why.empty()) {
    error = "tls_key: " + why;
    return cfg_error;
  }
  alloc::tls_heap_route();
  Rng& r = rng();
  if (r.seeded != 0) {
    error = "cannot seed the random generator: " + strerror_mbedtls(r.seeded);
    return cfg_error;
  }
  int ret = mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret) {
    error = "mbedtls_ssl_config_defaults: " + strerror_mbedtls(ret);
    return cfg_error;
  }
  if (!use_own_cert(conf_, own_cert_, own_key_, {"tls_cert", o.cert_file}, {"tls_key", o.key_file}, error))
    return cfg_error;
  mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&conf_, kServerSuites);
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &r.drbg);
  mbedtls_ssl_conf_renegotiation(&conf_, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  if (!o.client_ca.empty()) {
    ret = mbedtls_x509_crt_parse_file(&ca_, o.client_ca.c_str());
    if (ret < 0 || chain_length(ca_) == 0) {
      error = fmt::format("tls_client_ca {}: {}", o.client_ca, ret < 0 ? strerror_mbedtls(ret) : "no certificate in it");
      return cfg_error;
    }
    mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
    verify_clients_ = true;
  } else {
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_NONE);
  }
  ready_ = true;
  return {};
}

// ---- TlsStream -----------------------------------------------------------------------------------

TlsStream::TlsStream() noexcept { mbedtls_ssl_init(&ssl_); }

TlsStream::~TlsStream() {
  end();
  mbedtls_ssl_free(&ssl_);
}

// mbedtls_ssl_setup on `conf` (and the SNI/host name for a client); on failure the context is
// left as new. Errors: tls_errc::out_of_memory, tls_errc::config.
std::error_code TlsStream::setup_context(const mbedtls_ssl_config& conf, const char* hostname) noexcept {
  const std::uint64_t refused = alloc::tls_heap_refusals();
  int ret = mbedtls_ssl_setup(&ssl_, &conf);
  if (ret == 0 && hostname) ret = mbedtls_ssl_set_hostname(&ssl_, hostname);  // SNI + name check
  if (ret == 0) return {};
  last_ret_ = ret;
  mbedtls_ssl_free(&ssl_);
  mbedtls_ssl_init(&ssl_);
  const bool oom = ret == MBEDTLS_ERR_SSL_ALLOC_FAILED || alloc::tls_heap_refusals() != refused;
  return make_error_code(oom ? tls_errc::out_of_memory : tls_errc::config);
}

std::error_code TlsStream::setup(TlsClientConfig& cfg) {
  if (is_setup()) return {};
  if (!cfg.ready_) return make_error_code(tls_errc::config);
  if (auto ec = setup_context(cfg.conf_, cfg.host_is_ip_ ? nullptr : cfg.host_)) return ec;
  cfg_ = &cfg;
  return {};
}

std::error_code TlsStream::setup(TlsServerConfig& cfg) {
  if (is_setup()) return {};
  if (!cfg.ready_) return make_error_code(tls_errc::config);
  if (auto ec = setup_context(cfg.conf_, nullptr)) return ec;
  srv_ = &cfg;
  return {};
}

namespace {
std::uint32_t g_active_streams = 0;  // reactor thread only
}  // namespace

std::uint32_t tls_streams_active() noexcept { return g_active_streams; }

std::error_code TlsStream::reset() noexcept {
  end();
  last_ret_ = 0;
  sys_errno_ = 0;
  verify_flags_ = 0;
  alert_ = 0;
  resumed_ = false;
  oom_ = false;
  identity_len_ = 0;
  refusals_at_begin_ = alloc::tls_heap_refusals();
  if (!is_setup()) return make_error_code(tls_errc::config);
  // The context keeps its record buffers; the reset frees the previous connection's session and
  // keys and allocates fresh handshake state (mbedTLS heap).
  if (int ret = mbedtls_ssl_session_reset(&ssl_)) return fail(ret);
  return {};
}

// Binds the (reset) context to a connected socket of either kind, kept in `at`.
template <typename S>
std::error_code TlsStream::attach(S& sock, S*& at) noexcept {
  if (auto ec = reset()) return ec;
  std::error_code ec;
  sock.non_blocking(true, ec);
  if (ec) {
    sys_errno_ = ec.value();
    return make_error_code(tls_errc::io);
  }
  at = &sock;
  ++g_active_streams;
  fd_ = sock.native_handle();
  mbedtls_ssl_set_bio(&ssl_, this, &TlsStream::bio_send, &TlsStream::bio_recv, nullptr);
  return {};
}

std::error_code TlsStream::begin(Socket& sock) {
  if (auto ec = attach(sock, sock_)) return ec;
  if (cfg_ && cfg_->have_session_) (void)mbedtls_ssl_set_session(&ssl_, &cfg_->session_);  // a failure means a full handshake
  return {};
}

std::error_code TlsStream::begin(ServerSocket& sock) { return attach(sock, ssock_); }

void TlsStream::cancel_wait() noexcept {
  std::error_code ig;
  if (sock_) sock_->cancel(ig);
  else if (ssock_) ssock_->cancel(ig);
}

void TlsStream::end() noexcept {
  if (!active()) return;
  if (established_) (void)mbedtls_ssl_close_notify(&ssl_);  // one non-blocking try; WANT_WRITE is ignored
  established_ = false;
  sock_ = nullptr;
  ssock_ = nullptr;
  --g_active_streams;
  fd_ = -1;
}

int TlsStream::bio_send(void* self, const unsigned char* buf, std::size_t len) {
  auto* t = static_cast<TlsStream*>(self);
  if (len > INT_MAX) len = INT_MAX;
  for (;;) {
    ssize_t n = ::send(t->fd_, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_WRITE;
    t->sys_errno_ = errno;
    return (errno == EPIPE || errno == ECONNRESET) ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int TlsStream::bio_recv(void* self, unsigned char* buf, std::size_t len) {
  auto* t = static_cast<TlsStream*>(self);
  if (len > INT_MAX) len = INT_MAX;
  for (;;) {
    ssize_t n = ::recv(t->fd_, buf, len, 0);
    if (n >= 0) return static_cast<int>(n);  // 0 = EOF: mbedTLS reports MBEDTLS_ERR_SSL_CONN_EOF
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_READ;
    t->sys_errno_ = errno;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
  }
}

int TlsStream::step_handshake() noexcept {
  // mbedtls_ssl_handshake() is this loop; stepping it here lets us see whether the server
  // accepted the offered session (the handshake state is freed when the handshake ends).
  while (ssl_.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
    int ret = mbedtls_ssl_handshake_step(&ssl_);
    if (ssl_.handshake != nullptr && ssl_.handshake->resume) resumed_ = true;
    if (ret != 0) return ret;
  }
  return 0;
}

void TlsStream::on_established() noexcept {
  established_ = true;
  if (srv_) {
    take_identity();
    return;
  }
  if (resumed_) return;  // the saved session is still the one to offer
  // A full handshake: keep its session for the next connection of this connector.
  mbedtls_ssl_session_free(&cfg_->session_);
  mbedtls_ssl_session_init(&cfg_->session_);
  cfg_->have_session_ = mbedtls_ssl_get_session(&ssl_, &cfg_->session_) == 0;
}

// The subject's CN, else the first dNSName of subjectAltName. Bytes outside printable ASCII are
// replaced by '?' (the identity goes into log lines and JSON as it is).
void TlsStream::take_identity() noexcept {
  identity_len_ = 0;
  const mbedtls_x509_crt* crt = mbedtls_ssl_get_peer_cert(&ssl_);
  if (!crt) return;
  const mbedtls_x509_buf* v = nullptr;
  for (const mbedtls_x509_name* n = &crt->subject; n && !v; n = n->next)
    if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && n->val.len > 0) v = &n->val;
  for (const mbedtls_x509_sequence* s = &crt->subject_alt_names; s && !v; s = s->next)
    if (s->buf.p && s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && s->buf.len > 0) v = &s->buf;
  if (!v) return;
  const std::size_t n = v->len < kTlsMaxIdentity ? v->len : kTlsMaxIdentity;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = v->p[i];
    identity_[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '?';
  }
  identity_len_ = static_cast<std::uint8_t>(n);
}

std::error_code TlsStream::fail(int ret) noexcept {
  last_ret_ = ret;
  const std::uint32_t vr = mbedtls_ssl_get_verify_result(&ssl_);
  verify_flags_ = (vr != 0xFFFFFFFFu &&
                   (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE))
                      ? vr
                      : 0;
  if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) verify_flags_ = MBEDTLS_X509_BADCERT_MISSING;
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && ssl_.in_msg) alert_ = ssl_.in_msg[1];
  if ((ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_NET_SEND_FAILED) && !established_ && fd_ >= 0) {
    // A server that refuses our flight (e.g. no client certificate) sends a fatal alert and
    // closes; our next send may then fail before we read the alert. It is still in the receive
    // queue, in plaintext before ChangeCipherSpec: report it, so the reason does not depend on
    // that race. Record: type 21 (alert), version 3.x, length 2, level 2 (fatal), description.
    unsigned char rec[7];
    if (::recv(fd_, rec, sizeof rec, MSG_PEEK | MSG_DONTWAIT) == static_cast<ssize_t>(sizeof rec) && rec[0] == 21 &&
        rec[1] == 3 && rec[3] == 0 && rec[4] == 2 && rec[5] == 2) {
      alert_ = rec[6];
      last_ret_ = MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE;
      sys_errno_ = 0;
    }
  }
  if (alloc::tls_heap_refusals() != refusals_at_begin_ || ret == MBEDTLS_ERR_SSL_ALLOC_FAILED) {
    oom_ = true;
    return make_error_code(tls_errc::out_of_memory);
  }
  if (verify_flags_ || ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
    return make_error_code(tls_errc::verify_failed);
  switch (last_ret_) {
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return make_error_code(tls_errc::closed);
    case MBEDTLS_ERR_NET_CONN_RESET:
    case MBEDTLS_ERR_NET_SEND_FAILED:
    case MBEDTLS_ERR_NET_RECV_FAILED: return make_error_code(tls_errc::io);
    default: return make_error_code(tls_errc::handshake_failed);
  }
}

std::uint64_t TlsStream::failure_key() const noexcept {
  const std::uint32_t detail = oom_ ? 0xFFFFFFFFu : verify_flags_ ? verify_flags_ : alert_ ? alert_ : 0;
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(-last_ret_)) << 32) | detail;
}

namespace {
std::string_view alert_name(unsigned a) noexcept {
  switch (a) {
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    default: return "alert";
  }
}

// Appends formatted text to a fixed buffer, cutting at its end.
struct TextOut {
  char* out;
  std::size_t cap;
  std::size_t n = 0;
  template <typename... A>
  void put(fmt::format_string<A...> f, A&&... a) noexcept {
    if (n >= cap) return;
    n += fmt::format_to_n(out + n, cap - n, f, std::forward<A>(a)...).size;
    if (n > cap) n = cap;
  }
};

struct FlagText {
  std::uint32_t flag;
  std::string_view text;
};
constexpr FlagText kFlagTexts[] = {
    {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "not signed by a trusted CA"},
    {MBEDTLS_X509_BADCERT_EXPIRED, "expired"},
    {MBEDTLS_X509_BADCERT_FUTURE, "not valid yet"},
    {MBEDTLS_X509_BADCERT_CN_MISMATCH, "not issued for this host"},
    {MBEDTLS_X509_BADCERT_REVOKED, "revoked"},
    {MBEDTLS_X509_BADCERT_MISSING, "missing"},
    {MBEDTLS_X509_BADCERT_SKIP_VERIFY, "not verified"},
    {MBEDTLS_X509_BADCERT_KEY_USAGE, "key usage does not allow this use"},
    {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "extended key usage does not allow server authentication"},
    {MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "Netscape type does not allow this use"},
    {MBEDTLS_X509_BADCERT_BAD_MD, "signed with a disallowed hash"},
    {MBEDTLS_X509_BADCERT_BAD_PK, "uses a disallowed key type"},
    {MBEDTLS_X509_BADCERT_BAD_KEY, "uses a disallowed key size or curve"},
    {MBEDTLS_X509_BADCRL_NOT_TRUSTED, "CRL not trusted"},
    {MBEDTLS_X509_BADCRL_EXPIRED, "CRL expired"},
    {MBEDTLS_X509_BADCERT_OTHER, "rejected"},
};
}  // namespace

std::string_view TlsStream::describe(std::span<char> buf) const noexcept {
  TextOut o{buf.data(), buf.size()};
  const std::string_view peer = srv_ ? "client" : "server";
  if (oom_) {
    o.put("the mbedTLS memory limit refused an allocation");
  } else if (verify_flags_) {
    o.put("{} certificate", peer);
    bool first = true;
    for (const auto& f : kFlagTexts) {
      if (!(verify_flags_ & f.flag)) continue;
      o.put("{}{}", first ? " " : ", ", f.text);
      if (f.flag == MBEDTLS_X509_BADCERT_CN_MISMATCH && cfg_) o.put(" ({})", cfg_->host());
      first = false;
    }
    if (first) o.put(" rejected (flags 0x{:x})", verify_flags_);
  } else if (last_ret_ == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
    o.put("the {} sent fatal alert {} ({})", peer, alert_, alert_name(alert_));
  } else if (last_ret_ == MBEDTLS_ERR_SSL_CONN_EOF) {
    o.put("the {} closed the connection during the handshake", peer);
  } else if (sys_errno_ != 0) {
    char eb[96];
    const char* s = strerror_r(sys_errno_, eb, sizeof eb);
    o.put("socket error: {}", s);
  } else if (last_ret_ == MBEDTLS_ERR_SSL_INVALID_RECORD || last_ret_ == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION ||
             last_ret_ == MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE || last_ret_ == MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO ||
             last_ret_ == MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO) {
    char eb[128];
    mbedtls_strerror(last_ret_, eb, sizeof eb);
    o.put("not a TLS 1.2 {}: {} (-0x{:04x})", srv_ ? "client hello" : "server answer", eb,
          static_cast<unsigned>(-last_ret_));
  } else if (last_ret_ != 0) {
    char eb[128];
    mbedtls_strerror(last_ret_, eb, sizeof eb);
    o.put("{} (-0x{:04x})", eb, static_cast<unsigned>(-last_ret_));
  } else {
    o.put("no error");
  }
  return {o.out, o.n};
}

// ---- awaitables ----------------------------------------------------------------------------------

namespace {
// Awaits readiness of t's socket for `w`, at most `d`. Result as timed_op: {ec, 0}.
auto wait_ready(TlsStream& t, asio::socket_base::wait_type w, Clock::duration d) {
  return timed_op(
      d, [&t, w](auto h) { t.async_wait(w, std::move(h)); }, [&t] { t.cancel_wait(); });
}

std::error_code wait_error(std::error_code ec) noexcept {
  if (cancelled() || ec == asio::error::operation_aborted) return make_error_code(errc::cancelled);
  return ec;
}

constexpr bool wants_io(int ret) noexcept {
  return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}
constexpr asio::socket_base::wait_type wait_for(int ret) noexcept {
  return ret == MBEDTLS_ERR_SSL_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write;
}
}  // namespace

Task<std::error_code> tls_handshake(TlsStream& t, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cancelled()) co_return make_error_code(errc::cancelled);
    const int ret = t.step_handshake();
    if (ret == 0) {
      t.on_established();
      co_return std::error_code{};
    }
    if (!wants_io(ret)) co_return t.fail(ret);
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return make_error_code(errc::timeout);
    auto [ec, n] = co_await wait_ready(t, wait_for(ret), left);
    (void)n;
    if (ec) co_return wait_error(ec);
  }
}

Task<std::pair<std::error_code, std::size_t>> tls_write_all(TlsStream& t, std::span<const asio::const_buffer> bufs,
                                                            Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t total = 0;
  for (const asio::const_buffer& b : bufs) {
    const auto* p = static_cast<const unsigned char*>(b.data());
    std::size_t off = 0;
    while (off < b.size()) {
      if (cancelled()) co_return std::pair{make_error_code(errc::cancelled), total};
      // After WANT_*, mbedTLS must be called again with the same data (a record may be half sent).
      const int ret = mbedtls_ssl_write(&t.ssl(), p + off, b.size() - off);
      if (ret > 0) {
        off += static_cast<std::size_t>(ret);
        total += static_cast<std::size_t>(ret);
        continue;
      }
      if (!wants_io(ret)) co_return std::pair{t.fail(ret), total};
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) co_return std::pair{make_error_code(errc::timeout), total};
      auto [ec, n] = co_await wait_ready(t, wait_for(ret), left);
      (void)n;
      if (ec) co_return std::pair{wait_error(ec), total};
    }
  }
  co_return std::pair{std::error_code{}, total};
}

Task<std::pair<std::error_code, std::size_t>> tls_read_some(TlsStream& t, std::span<char> buf,
                                                            Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cancelled()) co_return std::pair{make_error_code(errc::cancelled), std::size_t{0}};
    const int ret = mbedtls_ssl_read(&t.ssl(), reinterpret_cast<unsigned char*>(buf.data()), buf.size());
    if (ret > 0) co_return std::pair{std::error_code{}, static_cast<std::size_t>(ret)};
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF)
      co_return std::pair{std::error_code(asio::error::eof), std::size_t{0}};
    if (!wants_io(ret)) co_return std::pair{t.fail(ret), std::size_t{0}};
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return std::pair{make_error_code(errc::timeout), std::size_t{0}};
    auto [ec, n] = co_await wait_ready(t, wait_for(ret), left);
    (void)n;
    if (ec) co_return std::pair{wait_error(ec), std::size_t{0}};
  }
}

}  // namespace bh
