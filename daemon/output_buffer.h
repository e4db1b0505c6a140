// The output of one stream of a process, kept in memory with a fixed bound, addressed by
// absolute byte offsets so that any number of readers can follow it at their own pace.
//
//   kHead: keeps the first `capacity` bytes and drops the rest (a foreground command's
//          captured output, which reports truncation).
//   kTail: a ring that keeps the last `capacity` bytes (a background process: an attaching
//          reader gets the most recent output; one that falls behind learns how much it lost).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace declaw::daemon {

class OutputBuffer {
 public:
  enum class Keep { kHead, kTail };

  OutputBuffer(Keep keep, size_t capacity) : keep_(keep), capacity_(capacity) {}

  void append(std::string_view bytes);
  // Drops every byte kept so far and keeps nothing more (the output was delivered).
  void release();

  // Offsets of the bytes kept: [begin(), end()). kHead: end() stops at the capacity.
  uint64_t begin() const { return begin_; }
  uint64_t end() const { return begin_ + size_; }
  // Bytes written but not kept (kHead: after the capacity; kTail: from the front).
  uint64_t dropped() const { return written_ - size_; }
  uint64_t written() const { return written_; }
  // What the buffer holds in memory: at most the capacity (grown by doubling as output comes).
  size_t memoryBytes() const { return buf_.capacity(); }

  // Kept bytes from `offset` (clamped to [begin(), end()]), at most `max`, contiguous in
  // memory: a ring that wraps answers in two reads.
  std::string_view read(uint64_t offset, size_t max) const;
  std::string contents() const;

 private:
  // Makes room for `bytes` kept bytes, linearising the ring (only before it is full).
  void reserve(size_t bytes);
  void put(size_t at, std::string_view bytes);  // at: logical index from the oldest byte

  Keep keep_;
  size_t capacity_;
  bool released_ = false;
  std::vector<char> buf_;
  size_t start_ = 0;    // index in buf_ of the oldest kept byte
  size_t size_ = 0;     // bytes kept
  uint64_t begin_ = 0;  // absolute offset of the oldest kept byte
  uint64_t written_ = 0;
};

// The longest prefix of `bytes` that does not end inside a UTF-8 sequence, unless that would
// leave nothing (then all of it): a reader shown output in pieces sees whole characters.
size_t utf8SafeLength(std::string_view bytes);

}  // namespace declaw::daemon
