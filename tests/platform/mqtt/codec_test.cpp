// MQTT 3.1.1 codec: round trips, byte-exact encodings against the spec's examples, the
// need-more / malformed split on every prefix, and the strict checks.
#include "platform/mqtt/codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bh::mqtt {
namespace {

std::string enc(auto f) {
  char buf[512];
  std::size_t n = f(std::span<char>(buf));
  return std::string(buf, n);
}

Decoded dec(std::string_view s, Packet& p) { return decode(s, p); }

TEST(MqttCodec, RemainingLengthBoundaries) {
  struct Case { std::uint32_t v; std::string bytes; };
  const Case cases[] = {{0, std::string("\x00", 1)}, {127, "\x7f"}, {128, "\x80\x01"}, {16383, "\xff\x7f"},
                        {16384, std::string("\x80\x80\x01")}, {2097151, "\xff\xff\x7f"},
                        {2097152, std::string("\x80\x80\x80\x01")}, {kMaxRemaining, "\xff\xff\xff\x7f"}};
  for (const auto& c : cases) {
    char b[4];
    std::size_t n = encode_remaining(b, c.v);
    EXPECT_EQ(std::string(b, n), c.bytes) << c.v;
  }
  char b[4];
  EXPECT_EQ(encode_remaining(b, kMaxRemaining + 1), 0u);
  EXPECT_EQ(encode_remaining(std::span<char>(b, 1), 128), 0u);
}

TEST(MqttCodec, ConnectRoundTripAndExactBytes) {
  Connect c;
  c.client_id = "bh-1";
  c.clean_session = false;
  c.keep_alive = 30;
  c.has_username = true;
  c.username = "u";
  c.has_password = true;
  c.password = std::string_view("p\0w", 3);
  std::string bytes = enc([&](std::span<char> o) { return encode_connect(o, c); });
  // 0x10, len, "\0\4MQTT", level 4, flags 0xC0 (user, password; clean session off), keep-alive 30.
  ASSERT_GE(bytes.size(), 12u);
  EXPECT_EQ(bytes.substr(0, 12), std::string("\x10\x18\x00\x04MQTT\x04\xc0\x00\x1e", 12));
  Packet p;
  ASSERT_EQ(dec(bytes, p).status, Status::ok);
  EXPECT_EQ(p.type, Type::connect);
  EXPECT_EQ(p.size, bytes.size());
  EXPECT_EQ(p.connect.client_id, "bh-1");
  EXPECT_FALSE(p.connect.clean_session);
  EXPECT_EQ(p.connect.keep_alive, 30);
  EXPECT_EQ(p.connect.username, "u");
  EXPECT_EQ(p.connect.password, std::string_view("p\0w", 3));
  EXPECT_FALSE(p.connect.has_will);
}

TEST(MqttCodec, ConnectStrictness) {
  Connect c;
  c.client_id = "x";
  std::string ok = enc([&](std::span<char> o) { return encode_connect(o, c); });
  Packet p;
  ASSERT_EQ(dec(ok, p).status, Status::ok);
  auto with = [&](std::size_t at, char v) { std::string s = ok; s[at] = v; return s; };
  EXPECT_EQ(dec(with(8, 3), p).status, Status::malformed);           // protocol level 3
  EXPECT_EQ(dec(with(4, 'X'), p).status, Status::malformed);         // protocol name
  EXPECT_EQ(dec(with(9, 0x03), p).status, Status::malformed);        // reserved flag
  EXPECT_EQ(dec(with(9, 0x42), p).status, Status::malformed);        // password without user name
  EXPECT_EQ(dec(with(9, 0x0A), p).status, Status::malformed);        // will QoS without a will
  EXPECT_EQ(dec(ok + "z", p).status, Status::ok);                    // the next packet's byte
  std::string longer = ok;
  longer[1] = static_cast<char>(longer[1] + 1);
  longer += "z";
  EXPECT_EQ(dec(longer, p).status, Status::malformed);               // bytes after the fields
  Connect empty_id;
  empty_id.clean_session = false;
  EXPECT_EQ(dec(enc([&](std::span<char> o) { return encode_connect(o, empty_id); }), p).status, Status::malformed);
}

TEST(MqttCodec, ConnackCodes) {
  Packet p;
  for (std::uint8_t code = 0; code <= 5; ++code) {
    std::string b = enc([&](std::span<char> o) { return encode_connack(o, false, code); });
    ASSERT_EQ(dec(b, p).status, Status::ok);
    EXPECT_EQ(p.connack_code, code);
  }
  EXPECT_EQ(connack_text(4), "bad user name or password");
  EXPECT_EQ(connack_text(5), "not authorized");
  EXPECT_EQ(dec(std::string("\x20\x02\x00\x06", 4), p).status, Status::malformed);  // unknown code
  EXPECT_EQ(dec(std::string("\x20\x02\x01\x05", 4), p).status, Status::malformed);  // session present on refusal
  EXPECT_EQ(dec(std::string("\x20\x02\x02\x00", 4), p).status, Status::malformed);  // reserved bit
  EXPECT_EQ(dec(std::string("\x20\x03\x00\x00\x00", 5), p).status, Status::malformed);
  ASSERT_EQ(dec(std::string("\x20\x02\x01\x00", 4), p).status, Status::ok);
  EXPECT_TRUE(p.session_present);
}

TEST(MqttCodec, PublishQos1WithDup) {
  Publish in{.topic = "site/a/events", .payload = "{\"seq\":1}", .packet_id = 7, .qos = 1};
  std::string b = enc([&](std::span<char> o) { return encode_publish(o, in); });
  EXPECT_EQ(static_cast<std::uint8_t>(b[0]), 0x32);
  Packet p;
  ASSERT_EQ(dec(b, p).status, Status::ok);
  EXPECT_EQ(p.publish.topic, "site/a/events");
  EXPECT_EQ(p.publish.payload, "{\"seq\":1}");
  EXPECT_EQ(p.publish.packet_id, 7);
  EXPECT_EQ(p.publish.qos, 1);
  EXPECT_FALSE(p.publish.dup);
  set_dup(std::span<char>(b.data(), b.size()));
  EXPECT_EQ(static_cast<std::uint8_t>(b[0]), 0x3A);
  ASSERT_EQ(dec(b, p).status, Status::ok);
  EXPECT_TRUE(p.publish.dup);
  // The head alone, the payload written by the caller.
  char buf[64];
  std::size_t h = encode_publish_head(buf, in, in.payload.size());
  EXPECT_EQ(std::string(buf, h), b.substr(0, h).replace(0, 1, "\x32"));
}

TEST(MqttCodec, PublishStrictness) {
  Packet p;
  Publish q0{.topic = "t", .payload = "x"};
  std::string b = enc([&](std::span<char> o) { return encode_publish(o, q0); });
  ASSERT_EQ(dec(b, p).status, Status::ok);
  EXPECT_EQ(p.publish.packet_id, 0);
  EXPECT_EQ(dec(std::string("\x38\x04\x00\x01tx", 6), p).status, Status::malformed);   // DUP on QoS 0
  EXPECT_EQ(dec(std::string("\x36\x04\x00\x01tx", 6), p).status, Status::malformed);   // QoS 3
  EXPECT_EQ(dec(std::string("\x32\x05\x00\x01t\x00\x00", 7), p).status, Status::malformed);  // zero id
  EXPECT_EQ(dec(std::string("\x30\x04\x00\x01+x", 6), p).status, Status::malformed);   // wildcard
  EXPECT_EQ(dec(std::string("\x30\x04\x00\x00xx", 6), p).status, Status::malformed);   // empty topic
  EXPECT_EQ(dec(std::string("\x30\x04\x00\x01\x00x", 6), p).status, Status::malformed);  // U+0000
  EXPECT_EQ(dec(std::string("\x30\x05\x00\x02\xc0\xafx", 7), p).status, Status::malformed);  // overlong UTF-8
  EXPECT_EQ(dec(std::string("\x30\x03\x00\x05t", 5), p).status, Status::malformed);    // topic past the end
  Publish bad{.topic = "t", .qos = 1};
  EXPECT_EQ(enc([&](std::span<char> o) { return encode_publish(o, bad); }), "");     // zero id refused
}

// A PUBLISH too long to buffer: decode() refuses it, decode_publish_head() reads its head from
// the first bytes alone so the caller can acknowledge it and read past the rest.
TEST(MqttCodec, PublishHeadOfAnOversizedPacket) {
  const std::string payload(40 * 1024, 'x');
  Publish in{.topic = "dev/big", .payload = payload, .packet_id = 9, .qos = 1};
  std::string b(payload.size() + 64, '\0');
  b.resize(encode_publish(std::span<char>(b.data(), b.size()), in));
  ASSERT_FALSE(b.empty());
  Packet p;
  const std::string_view first(b.data(), 16 * 1024);
  EXPECT_EQ(decode(first, p, 16 * 1024).why, "packet too large");
  ASSERT_EQ(decode_publish_head(first, p).status, Status::ok);
  EXPECT_EQ(p.type, Type::publish);
  EXPECT_EQ(p.size, b.size());
  EXPECT_EQ(p.publish.topic, "dev/big");
  EXPECT_EQ(p.publish.packet_id, 9);
  EXPECT_EQ(p.publish.qos, 1);
  EXPECT_TRUE(p.publish.payload.empty());
  // Every prefix shorter than the head needs more; the head's own checks still apply.
  for (std::size_t k = 0; k < 4 + 2 + 7 + 2; ++k) EXPECT_EQ(decode_publish_head(b.substr(0, k), p).status, Status::need_more) << k;
  EXPECT_EQ(decode_publish_head(std::string("\x32\x05\x00\x01t\x00\x00", 7), p).status, Status::malformed);  // zero id
  EXPECT_EQ(decode_publish_head(std::string("\x30\x04\x00\x01+x", 6), p).status, Status::malformed);         // wildcard
  EXPECT_EQ(decode_publish_head(std::string("\x30\x03\x00\x05t", 5), p).status, Status::malformed);          // topic past the end
  EXPECT_EQ(decode_publish_head(std::string("\x40\x02\x00\x01", 4), p).status, Status::malformed);           // a PUBACK
}

TEST(MqttCodec, AcksPingsDisconnect) {
  Packet p;
  std::string ack = enc([](std::span<char> o) { return encode_ack(o, Type::puback, 0x1234); });
  EXPECT_EQ(ack, std::string("\x40\x02\x12\x34", 4));
  ASSERT_EQ(dec(ack, p).status, Status::ok);
  EXPECT_EQ(p.packet_id, 0x1234);
  EXPECT_EQ(dec(std::string("\x40\x02\x00\x00", 4), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\x40\x03\x00\x01\x00", 5), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\x41\x02\x00\x01", 4), p).status, Status::malformed);  // flags
  EXPECT_EQ(enc([](std::span<char> o) { return encode_ack(o, Type::pubrel, 1); }), std::string("\x62\x02\x00\x01", 4));
  EXPECT_EQ(enc([](std::span<char> o) { return encode_empty(o, Type::pingreq); }), std::string("\xc0\x00", 2));
  EXPECT_EQ(enc([](std::span<char> o) { return encode_empty(o, Type::pingresp); }), std::string("\xd0\x00", 2));
  EXPECT_EQ(enc([](std::span<char> o) { return encode_empty(o, Type::disconnect); }), std::string("\xe0\x00", 2));
  ASSERT_EQ(dec(std::string("\xd0\x00", 2), p).status, Status::ok);
  EXPECT_EQ(p.type, Type::pingresp);
  EXPECT_EQ(dec(std::string("\xd0\x01\x00", 3), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\x00\x00", 2), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\xf0\x00", 2), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\xa2\x00", 2), p).status, Status::malformed);  // UNSUBSCRIBE: not decoded
}

TEST(MqttCodec, SubscribeAndSuback) {
  const std::string_view filters[] = {"site/+/events", "alarms/#"};
  std::string b = enc([&](std::span<char> o) { return encode_subscribe(o, 9, filters, 1); });
  EXPECT_EQ(static_cast<std::uint8_t>(b[0]), 0x82);
  Packet p;
  ASSERT_EQ(dec(b, p).status, Status::ok);
  EXPECT_EQ(p.packet_id, 9);
  std::size_t pos = 0;
  std::string_view f;
  std::uint8_t q = 9;
  ASSERT_TRUE(next_filter(p.list, pos, f, q));
  EXPECT_EQ(f, "site/+/events");
  EXPECT_EQ(q, 1);
  ASSERT_TRUE(next_filter(p.list, pos, f, q));
  EXPECT_EQ(f, "alarms/#");
  EXPECT_FALSE(next_filter(p.list, pos, f, q));
  for (std::string_view badf : {"a/#/b", "a+", "#a", "", "a/b#"}) EXPECT_FALSE(topic_filter_problem(badf).empty()) << badf;
  for (std::string_view okf : {"#", "+", "a/+/b", "/", "a//#", "+/+"}) EXPECT_TRUE(topic_filter_problem(okf).empty()) << okf;
  const std::uint8_t codes[] = {1, kSubackFailure};
  std::string s = enc([&](std::span<char> o) { return encode_suback(o, 9, codes); });
  ASSERT_EQ(dec(s, p).status, Status::ok);
  EXPECT_EQ(p.list, std::string("\x01\x80", 2));
  EXPECT_EQ(dec(std::string("\x90\x03\x00\x09\x03", 5), p).status, Status::malformed);  // code 3
  EXPECT_EQ(dec(std::string("\x80\x06\x00\x01\x00\x01t\x01", 8), p).status, Status::malformed);  // flags 0
  EXPECT_EQ(dec(std::string("\x82\x06\x00\x01\x00\x01t\x03", 8), p).status, Status::malformed);  // QoS 3
  EXPECT_EQ(dec(std::string("\x82\x02\x00\x01", 4), p).status, Status::malformed);  // no filter
}

TEST(MqttCodec, EveryPrefixNeedsMoreAndNonMinimalLengthIsMalformed) {
  const std::string payload(300, 'x');  // Publish holds views: the bytes must outlive it
  Publish in{.topic = "a/b", .payload = payload, .packet_id = 1, .qos = 1};
  char buf[512];
  std::size_t n = encode_publish(buf, in);
  Packet p;
  for (std::size_t k = 0; k < n; ++k) EXPECT_EQ(decode(std::string_view(buf, k), p).status, Status::need_more) << k;
  EXPECT_EQ(decode(std::string_view(buf, n), p).status, Status::ok);
  EXPECT_EQ(dec(std::string("\xd0\x80\x00", 3), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\x30\xff\xff\xff\xff\x01", 6), p).status, Status::malformed);
  EXPECT_EQ(dec(std::string("\x30\xff\xff\xff", 4), p).status, Status::need_more);
  Decoded d = decode(std::string_view(buf, 3), p, 100);  // the length alone says it is too large
  EXPECT_EQ(d.status, Status::malformed);
  EXPECT_EQ(d.why, "packet too large");
}

}  // namespace
}  // namespace bh::mqtt
