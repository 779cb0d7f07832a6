// Dedupe: the key digest (a canonical walk of the pointed values into SHA-256) and the window
// (linear probing with backward-shift deletion; a FIFO ring of positions decides eviction order).
#include "platform/sources/dedupe.hpp"

#include <mbedtls/sha256.h>
#include <simdjson.h>

#include <bit>

namespace bh {
namespace {

// SHA-256 over a stack context (no heap), truncated to the key's 16 bytes.
class Digest {
 public:
  Digest() noexcept {
    mbedtls_sha256_init(&ctx_);
    (void)mbedtls_sha256_starts_ret(&ctx_, 0);
  }
  ~Digest() { mbedtls_sha256_free(&ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void put(const void* p, std::size_t n) noexcept {
    (void)mbedtls_sha256_update_ret(&ctx_, static_cast<const unsigned char*>(p), n);
  }
  void tag(char t) noexcept { put(&t, 1); }
  void u64(std::uint64_t v) noexcept { put(&v, sizeof v); }
  void text(char t, std::string_view s) noexcept {  // tag, length, bytes: no two sequences meet
    tag(t);
    u64(s.size());
    put(s.data(), s.size());
  }
  void finish(DedupeKey& out) noexcept {
    unsigned char full[32];
    (void)mbedtls_sha256_finish_ret(&ctx_, full);
    std::memcpy(out.b.data(), full, out.b.size());
  }

 private:
  mbedtls_sha256_context ctx_;
};

// The canonical form of a value: what it is, not how it was written. Whitespace and string
// escapes do not matter; numbers that are equal integers (1, 1.0, 1e0) are one value; object
// members are taken in document order. Depth is bounded by the parser's max depth.
void canonical(Digest& d, simdjson::dom::element e) noexcept {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY:
      d.tag('[');
      for (simdjson::dom::element c : simdjson::dom::array(e)) canonical(d, c);
      d.tag(']');
      return;
    case T::OBJECT:
      d.tag('{');
      for (simdjson::dom::key_value_pair kv : simdjson::dom::object(e)) {
        d.text('k', kv.key);
        canonical(d, kv.value);
      }
      d.tag('}');
      return;
    case T::STRING: d.text('s', std::string_view(e)); return;
    case T::INT64:
      d.tag('i');
      d.u64(static_cast<std::uint64_t>(std::int64_t(e)));
      return;
    case T::UINT64: {
      const std::uint64_t v = std::uint64_t(e);
      d.tag(v <= static_cast<std::uint64_t>(INT64_MAX) ? 'i' : 'u');
      d.u64(v);
      return;
    }
    case T::DOUBLE: {
      const double v = double(e);
      if (v >= -9.2e18 && v <= 9.2e18 && v == static_cast<double>(static_cast<std::int64_t>(v))) {
        d.tag('i');
        d.u64(static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
      } else {
        d.tag('d');
        d.u64(std::bit_cast<std::uint64_t>(v));
      }
      return;
    }
    case T::BOOL: d.tag(bool(e) ? 't' : 'f'); return;
    case T::NULL_VALUE: d.tag('n'); return;
  }
}

}  // namespace

std::string DedupeKeyer::compile(std::span<const std::string> pointers, std::size_t& why_index) {
  n_ = 0;
  whole_ = false;
  if (pointers.size() > kMaxPointers) {
    why_index = kMaxPointers;
    return "at most 8 pointers";
  }
  for (std::size_t i = 0; i < pointers.size(); ++i) {
    if (pointers[i] == "/") {
      whole_ = true;
      continue;
    }
    std::string why;
    if (!JsonPointer::compile(pointers[i], paths_[n_], why)) {
      why_index = i;
      return why;
    }
    if (paths_[n_].empty()) {
      why_index = i;
      return "\"\" is the whole event: write [\"/\"]";
    }
    ++n_;
  }
  if (whole_ && n_ > 0) {
    why_index = 0;
    return "\"/\" (the whole event) cannot be combined with other pointers";
  }
  return "";
}

bool DedupeKeyer::key(std::string_view bytes, const simdjson::dom::element& root, DedupeKey& out) const noexcept {
  Digest d;
  if (whole_) {
    d.text('w', bytes);
    d.finish(out);
    return true;
  }
  bool any = false;
  for (std::size_t i = 0; i < n_; ++i) {
    simdjson::dom::element v;
    if (paths_[i].find(root, v)) {
      d.tag('p');
      canonical(d, v);
      any = true;
    } else {
      d.tag('m');  // missing: still part of the key, so {a} and {b} with one missing differ
    }
  }
  d.finish(out);
  return any;
}

// ---- DedupeWindow ------------------------------------------------------------------------------

void DedupeWindow::init(std::uint32_t window) {
  cap_ = window;
  head_ = count_ = live_ = 0;
  if (window == 0) {
    ring_.reset();
    alive_.reset();
    table_.reset();
    mask_ = 0;
    return;
  }
  const std::uint32_t slots = std::bit_ceil(2 * window);  // load factor <= 1/2
  mask_ = slots - 1;
  ring_ = std::make_unique<DedupeKey[]>(window);
  alive_ = std::make_unique<bool[]>(window);
  table_ = std::make_unique<std::uint32_t[]>(slots);
}

std::uint32_t DedupeWindow::find(const DedupeKey& k) const noexcept {
  if (cap_ == 0) return kNone;
  for (std::uint32_t i = home(k);; i = (i + 1) & mask_) {
    const std::uint32_t v = table_[i];
    if (v == 0) return kNone;
    if (ring_[v - 1] == k) return i;
  }
}

void DedupeWindow::remove_slot(std::uint32_t i) noexcept {
  // Backward-shift deletion: every entry after the hole whose home is not in (hole, its slot]
  // moves into the hole, so lookups never need tombstones.
  std::uint32_t j = i;
  for (;;) {
    table_[i] = 0;
    for (;;) {
      j = (j + 1) & mask_;
      if (table_[j] == 0) return;
      const std::uint32_t h = home(ring_[table_[j] - 1]);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) break;
    }
    table_[i] = table_[j];
    i = j;
  }
}

bool DedupeWindow::insert(const DedupeKey& k) noexcept {
  if (cap_ == 0) return false;
  bool evicted = false;
  if (count_ == cap_) {
    // The oldest position goes; a key erased before left it dead (nothing to evict then).
    if (alive_[head_]) {
      const std::uint32_t s = find(ring_[head_]);
      if (s != kNone) remove_slot(s);
      --live_;
      evicted = true;
    }
    head_ = (head_ + 1) % cap_;
    --count_;
  }
  const std::uint32_t pos = (head_ + count_) % cap_;
  ring_[pos] = k;
  alive_[pos] = true;
  ++count_;
  ++live_;
  std::uint32_t i = home(k);
  while (table_[i] != 0) i = (i + 1) & mask_;
  table_[i] = pos + 1;
  return evicted;
}

bool DedupeWindow::erase(const DedupeKey& k) noexcept {
  const std::uint32_t s = find(k);
  if (s == kNone) return false;
  alive_[table_[s] - 1] = false;
  remove_slot(s);
  --live_;
  return true;
}

}  // namespace bh
