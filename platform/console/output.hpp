// Output: a console session's fixed output buffer. Commands print into it with {fmt}; nothing
// allocates, and what does not fit is dropped and flagged (the session then adds a notice). A
// soft limit keeps kReserve bytes for the session's own tail (truncation notice, prompt). On
// terminal backends (PTY, serial line: raw, no OPOST) '\n' is written as "\r\n".
// It is not a stream: the session sends its contents and clears it between pages.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <iterator>
#include <string_view>
#include <utility>

namespace bh::console {

class Output {
 public:
  static constexpr std::size_t kBytes = 3072;   // a page; longer answers are paged
  static constexpr std::size_t kReserve = 192;  // kept for write_tail()
  using value_type = char;                           // for std::back_inserter (fmt output)

  Output() noexcept = default;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Terminal line endings: '\n' becomes "\r\n".
  void set_crlf(bool on) noexcept { crlf_ = on; }
  bool crlf() const noexcept { return crlf_; }

  void push_back(char c) noexcept { put(c, kBytes - kReserve); }
  void write(std::string_view s) noexcept {
    for (char c : s) put(c, kBytes - kReserve);
  }
  // Formats with {fmt} straight into the buffer (no heap: fmt stages through a small local buffer).
  template <typename... Args>
  void print(fmt::format_string<Args...> f, Args&&... args) noexcept {
    fmt::format_to(std::back_inserter(*this), f, std::forward<Args>(args)...);
  }
  // The session's own tail (notices, prompt): may use the reserve past the soft limit.
  void write_tail(std::string_view s) noexcept {
    for (char c : s) put(c, kBytes);
  }

  // Bytes a command may still print before output is dropped (a '\n' may take two).
  std::size_t room() const noexcept { return len_ < kBytes - kReserve ? kBytes - kReserve - len_ : 0; }
  bool truncated() const noexcept { return truncated_; }
  bool empty() const noexcept { return len_ == 0; }
  std::size_t size() const noexcept { return len_; }
  // True if nothing was written yet or the last byte written was a newline.
  bool at_line_start() const noexcept { return last_ == '\n'; }
  std::string_view view() const noexcept { return {buf_, len_}; }
  // Declares the cursor at a line start (after a prompt: an answer starts a new line).
  void set_line_start() noexcept { last_ = '\n'; }
  // Forgets the contents (after they were sent); the line-start state carries over.
  void clear() noexcept {
    len_ = 0;
    truncated_ = false;
  }

 private:
  void put(char c, std::size_t cap) noexcept {
    std::size_t need = (c == '\n' && crlf_) ? 2 : 1;
    if (len_ + need > cap) {
      truncated_ = true;
      return;
    }
    if (need == 2) buf_[len_++] = '\r';
    buf_[len_++] = c;
    last_ = c;
  }

  char buf_[kBytes];
  std::size_t len_ = 0;
  char last_ = '\n';
  bool crlf_ = false;
  bool truncated_ = false;
};

}  // namespace bh::console
