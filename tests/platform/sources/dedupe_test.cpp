// platform/sources/dedupe.hpp and the source's decode: the window (FIFO eviction at N-1, N, N+1,
// erase and reinsertion, a long random run against a reference model, zero heap after init), the
// key (canonical: whitespace, escapes and 1 vs 1.0 do not matter; member values do; missing
// pointers; the whole event), and decode (Pusher's string-encoded data, escapes, strings that are
// not JSON text kept, absent and non-string fields left alone, zero heap).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <deque>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "platform/sources/dedupe.hpp"
#include "platform/sources/source.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {

DedupeKey k(std::uint32_t i) {
  DedupeKey key;
  std::memcpy(key.b.data(), &i, sizeof i);
  key.b[8] = 7;
  return key;
}

TEST(DedupeWindow, EvictsOldestFirstAtCapacity) {
  DedupeWindow w;
  w.init(3);
  EXPECT_FALSE(w.insert(k(1)));
  EXPECT_FALSE(w.insert(k(2)));  // N-1
  EXPECT_FALSE(w.insert(k(3)));  // N: nothing evicted yet
  EXPECT_EQ(w.size(), 3u);
  EXPECT_TRUE(w.insert(k(4)));   // N+1: the oldest (1) goes
  EXPECT_FALSE(w.contains(k(1)));
  EXPECT_TRUE(w.contains(k(2)) && w.contains(k(3)) && w.contains(k(4)));
  EXPECT_TRUE(w.insert(k(5)));
  EXPECT_FALSE(w.contains(k(2)));
  EXPECT_EQ(w.size(), 3u);
}

TEST(DedupeWindow, EraseLeavesAHoleThatEvictsNothing) {
  DedupeWindow w;
  w.init(3);
  w.insert(k(1));
  w.insert(k(2));
  w.insert(k(3));
  EXPECT_TRUE(w.erase(k(1)));   // its event was not stored
  EXPECT_FALSE(w.erase(k(1)));
  EXPECT_EQ(w.size(), 2u);
  EXPECT_FALSE(w.insert(k(4)));  // the erased position goes: no live key evicted
  EXPECT_TRUE(w.contains(k(2)) && w.contains(k(3)) && w.contains(k(4)));
  EXPECT_TRUE(w.insert(k(1)));   // back in, as the newest; 2 goes
  EXPECT_FALSE(w.contains(k(2)));
}

TEST(DedupeWindow, RandomRunMatchesAReferenceAndAllocatesNothing) {
  DedupeWindow w;
  w.init(100);
  std::deque<std::uint32_t> fifo;  // live keys, oldest first (erased ones removed)
  std::deque<std::pair<std::uint32_t, bool>> ring;  // positions as the window sees them
  std::mt19937 rng(7);
  std::uint64_t window_allocs = 0;  // counted around the window's calls only (the model allocates)
  auto counted = [&](auto f) {
    const std::uint64_t b = test::heap_allocations();
    auto r = f();
    window_allocs += test::heap_allocations() - b;
    return r;
  };
  std::uint64_t evictions = 0, model_evictions = 0;
  for (int i = 0; i < 20000; ++i) {
    std::uint32_t v = rng() % 300;  // small space: many hits, collisions in the table
    if (rng() % 10 == 0) {
      bool had = false;
      for (auto& [key, alive] : ring)
        if (alive && key == v) alive = false, had = true;
      ASSERT_EQ(counted([&] { return w.erase(k(v)); }), had);
      continue;
    }
    bool present = false;
    for (auto& [key, alive] : ring) present |= alive && key == v;
    ASSERT_EQ(counted([&] { return w.contains(k(v)); }), present) << i;
    if (present) continue;
    if (ring.size() == 100) {
      if (ring.front().second) ++model_evictions;
      ring.pop_front();
    }
    ring.emplace_back(v, true);
    evictions += counted([&] { return w.insert(k(v)); }) ? 1 : 0;
  }
  EXPECT_EQ(window_allocs, 0u);
  EXPECT_EQ(evictions, model_evictions);
  EXPECT_GT(evictions, 100u);
}

class Keys : public ::testing::Test {
 protected:
  simdjson::dom::parser parser;
  DedupeKey key(const std::vector<std::string>& ptrs, const std::string& json, bool* any = nullptr) {
    DedupeKeyer keyer;
    std::size_t at = 0;
    EXPECT_EQ(keyer.compile(ptrs, at), "");
    simdjson::padded_string p(json);
    simdjson::dom::element root;
    EXPECT_FALSE(parser.parse(p).get(root)) << json;
    DedupeKey out;
    bool ok = keyer.key(std::string_view(p.data(), p.size()), root, out);
    if (any) *any = ok;
    return out;
  }
};

TEST_F(Keys, CanonicalValuesNotTheirSpelling) {
  const std::vector<std::string> p{"/hash", "/n"};
  const DedupeKey a = key(p, R"({"hash":"0xab","n":1,"other":1})");
  EXPECT_EQ(a, key(p, R"({ "other":2, "n" : 1.0, "hash" : "0x\u0061b" })"));
  EXPECT_NE(a, key(p, R"({"hash":"0xab","n":2})"));
  EXPECT_NE(a, key(p, R"({"hash":"0xac","n":1})"));
  EXPECT_NE(a, key(p, R"({"hash":"0xab","n":"1"})"));  // a string is not a number
  // Objects and arrays by value; the split between pointers is part of the key.
  EXPECT_EQ(key({"/o"}, R"({"o":{"a":[1,"x"]}})"), key({"/o"}, R"({"o": { "a" : [ 1 , "x" ] } })"));
  EXPECT_NE(key({"/a", "/b"}, R"({"a":"xy","b":"z"})"), key({"/a", "/b"}, R"({"a":"x","b":"yz"})"));
}

TEST_F(Keys, MissingPointersAndTheWholeEvent) {
  bool any = true;
  key({"/x", "/y"}, R"({"z":1})", &any);
  EXPECT_FALSE(any);  // no value at any pointer: no key
  const DedupeKey half = key({"/x", "/y"}, R"({"x":1})", &any);
  EXPECT_TRUE(any);
  EXPECT_NE(half, key({"/x", "/y"}, R"({"y":1})"));  // which one is missing matters
  EXPECT_EQ(key({"/"}, R"({"a":1})"), key({"/"}, R"({"a":1})"));
  EXPECT_NE(key({"/"}, R"({"a":1})"), key({"/"}, R"({"a": 1})"));  // the whole event: its bytes
  EXPECT_EQ(key({"/a/1/b"}, R"({"a":[0,{"b":"v"}]})"), key({"/a/1/b"}, R"({"a":[9,{"b":"v","c":0}]})"));
  DedupeKeyer keyer;
  std::size_t at = 0;
  EXPECT_NE(keyer.compile(std::vector<std::string>{"/", "/a"}, at), "");
  EXPECT_NE(keyer.compile(std::vector<std::string>{"/a", "b"}, at), "");
  EXPECT_EQ(at, 1u);
  EXPECT_NE(keyer.compile(std::vector<std::string>{""}, at), "");  // the whole event is written "/"
  EXPECT_NE(keyer.compile(std::vector<std::string>(9, "/a"), at), "");
}

// decode_json_strings on a padded copy of `in`, with pointers `ptrs`.
std::string decoded(const std::string& in, const std::vector<std::string>& ptrs, std::uint32_t* failed_out = nullptr) {
  std::vector<JsonPointer> paths(ptrs.size());
  std::string why;
  for (std::size_t i = 0; i < ptrs.size(); ++i) EXPECT_TRUE(JsonPointer::compile(ptrs[i], paths[i], why)) << why;
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.allocate(4096), simdjson::SUCCESS);
  std::vector<char> work(2 * (4096 + JsonCheck::kPadding));
  std::uint32_t failed = 0;
  std::size_t n = decode_json_strings(in, paths, work, parser, failed);
  if (failed_out) *failed_out = failed;
  return std::string(work.data(), n);
}

TEST(Decode, PusherDataBecomesJson) {
  const std::string msg = R"({"event":"App\\Events\\StreamerIsLive","channel":"c","data":"{\"livestream\":{\"id\":5,\"title\":\"Hi \\\"all\\\" \u00e9\"}}"})";
  EXPECT_EQ(decoded(msg, {"/data"}),
            R"({"event":"App\\Events\\StreamerIsLive","channel":"c","data":{"livestream":{"id":5,"title":"Hi \"all\" é"}}})");
  // Two fields, an array text, whitespace kept as the text had it.
  EXPECT_EQ(decoded(R"({"a":"[1, 2]","b":{"c":" {\"d\":true}"}})", {"/a", "/b/c"}), R"({"a":[1, 2],"b":{"c": {"d":true}}})");
}

TEST(Decode, WhatCannotBeDecodedIsKeptAndReported) {
  std::uint32_t failed = 0;
  const std::string in = R"({"a":"not json","b":"{\"x\":","c":"12","d":{"e":1}})";
  EXPECT_EQ(decoded(in, {"/a", "/b", "/c", "/d", "/missing"}, &failed), in);
  EXPECT_EQ(failed, 0b111u);  // a, b and c are strings that are not JSON text; d and missing are left alone
  EXPECT_EQ(decoded(R"({"data":""})", {"/data"}, &failed), R"({"data":""})");
  EXPECT_EQ(failed, 1u);
}

TEST(Decode, AllocatesNothing) {
  JsonPointer p;
  std::string why;
  ASSERT_TRUE(JsonPointer::compile("/data", p, why));
  simdjson::dom::parser parser;
  ASSERT_EQ(parser.allocate(4096), simdjson::SUCCESS);
  std::vector<char> work(2 * (4096 + JsonCheck::kPadding));
  const std::string in = R"({"event":"e","data":"{\"a\":[1,2,{\"b\":\"c\"}]}"})";
  std::uint32_t failed = 0;
  ASSERT_GT(decode_json_strings(in, std::span<const JsonPointer>(&p, 1), work, parser, failed), 0u);  // warm
  const std::uint64_t before = test::heap_allocations();
  for (int i = 0; i < 100; ++i) decode_json_strings(in, std::span<const JsonPointer>(&p, 1), work, parser, failed);
  EXPECT_EQ(test::heap_allocations() - before, 0u);
  EXPECT_EQ(failed, 0u);
}

}  // namespace
}  // namespace bh
