// libFuzzer target for the MQTT 3.1.1 codec (platform/mqtt/codec.hpp): decodes the input as a
// stream of packets and traps if a decoded packet does not re-encode to exactly its input bytes
// (decoding is strict and lengths minimal, so the encoding is unique), if a proper prefix of a
// decoded packet is not `need_more`, if a view leaves the input, or if a malformed result has no
// reason. Built and run by `make test-fuzz` (tests/fuzz/CMakeLists.txt, tests/fuzz/run.sh).
// Input: byte 0 picks the packet-size limit (0 = none, else byte * 64), then the bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "platform/mqtt/codec.hpp"

namespace {

using namespace bh::mqtt;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

char g_out[70000];

std::size_t reencode(const Packet& p, std::string_view in) {
  std::span<char> out(g_out, sizeof g_out);
  switch (p.type) {
    case Type::connect: return encode_connect(out, p.connect);
    case Type::connack: return encode_connack(out, p.session_present, p.connack_code);
    case Type::publish: return encode_publish(out, p.publish);
    case Type::puback:
    case Type::pubrec:
    case Type::pubrel:
    case Type::pubcomp:
    case Type::unsuback: return encode_ack(out, p.type, p.packet_id);
    case Type::suback:
      return encode_suback(out, p.packet_id,
                           std::span(reinterpret_cast<const std::uint8_t*>(p.list.data()), p.list.size()));
    case Type::pingreq:
    case Type::pingresp:
    case Type::disconnect: return encode_empty(out, p.type);
    case Type::subscribe: {
      // Filters may carry different QoS: walk them instead, every byte of the list consumed.
      std::size_t pos = 0, n = 0;
      std::string_view f;
      std::uint8_t q = 0;
      while (next_filter(p.list, pos, f, q)) {
        check(q <= 2 && topic_filter_problem(f).empty() && inside(f, in));
        ++n;
      }
      check(pos == p.list.size() && n > 0);
      std::memcpy(g_out, in.data(), p.size);
      return p.size;
    }
    default: check(false);
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint32_t limit = data[0] == 0 ? kMaxRemaining + kMaxFixedHeader : data[0] * 64u;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  for (int guard = 0; guard < 1000 && !in.empty(); ++guard) {
    Packet p;
    Decoded d = decode(in, p, limit);
    if (Packet h; decode_publish_head(in, h).status == Status::ok) {  // the head a skipping reader acts on
      check(h.type == Type::publish && h.publish.payload.empty() && inside(h.publish.topic, in.substr(0, std::min<std::size_t>(h.size, in.size()))));
      if (d.status == Status::ok) check(h.size == p.size && h.publish.topic == p.publish.topic && h.publish.packet_id == p.publish.packet_id);
    }
    if (d.status == Status::need_more) return 0;
    if (d.status == Status::malformed) {
      check(!d.why.empty());
      return 0;
    }
    check(p.size >= 2 && p.size <= in.size() && p.size <= limit);
    const std::string_view pkt = in.substr(0, p.size);
    if (p.type == Type::publish) check(inside(p.publish.topic, pkt) && inside(p.publish.payload, pkt));
    if (p.type == Type::connect)
      check(inside(p.connect.client_id, pkt) && inside(p.connect.username, pkt) && inside(p.connect.password, pkt));
    check(inside(p.list, pkt));
    const std::size_t n = reencode(p, pkt);
    check(n == p.size && std::memcmp(g_out, pkt.data(), n) == 0);
    for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{p.size / 2}, std::size_t{p.size - 1}}) {
      Packet q;
      check(decode(pkt.substr(0, k), q, limit).status == Status::need_more);
    }
    in.remove_prefix(p.size);
  }
  return 0;
}
