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

namespace declaw::daemon {

class OutputBuffer {
 public:
  enum class Keep { kHead, kTail };

  OutputBuffer(Keep keep, size_t capacity) : keep_(keep), capacity_(capacity) {}

  void append(std::string_view bytes);
  // Drops every byte kept so far and keeps nothing more (the output was delivered).
  void release();

  // Offsets of the bytes kept: [begin(), end()). kHead: end() stops at the capacity.
  uint64_t begin() const { return base_ + start_; }
  uint64_t end() const { return base_ + data_.size(); }
  // Bytes written but not kept (kHead: after the capacity; kTail: from the front).
  uint64_t dropped() const { return written_ - (end() - begin()); }
  uint64_t written() const { return written_; }

  // At most `max` kept bytes starting at `offset` (clamped to [begin(), end()]).
  std::string_view read(uint64_t offset, size_t max) const;
  std::string_view contents() const { return read(begin(), data_.size()); }

 private:
  Keep keep_;
  size_t capacity_;
  bool released_ = false;
  std::string data_;
  size_t start_ = 0;   // data_[start_..] is kept; the front is compacted away lazily
  uint64_t base_ = 0;  // the absolute offset of data_[0]
  uint64_t written_ = 0;
};

// The longest prefix of `bytes` that does not end inside a UTF-8 sequence, unless that would
// leave nothing (then all of it): a reader shown output in pieces sees whole characters.
size_t utf8SafeLength(std::string_view bytes);

}  // namespace declaw::daemon
