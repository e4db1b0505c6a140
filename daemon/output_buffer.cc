#include "daemon/output_buffer.h"

#include <algorithm>

namespace declaw::daemon {

namespace {
constexpr size_t kFirstAllocation = 4096;
}  // namespace

void OutputBuffer::reserve(size_t bytes) {
  if (buf_.size() >= bytes) return;
  size_t grown = std::max({bytes, kFirstAllocation, buf_.size() * 2});
  std::vector<char> bigger(std::min(grown, std::max(bytes, capacity_)));
  // Before the ring is full nothing has wrapped, but copy in order anyway.
  for (size_t i = 0; i < size_; ++i) bigger[i] = buf_[(start_ + i) % buf_.size()];
  buf_.swap(bigger);
  start_ = 0;
}

void OutputBuffer::put(size_t at, std::string_view bytes) {
  size_t index = (start_ + at) % buf_.size();
  size_t first = std::min(bytes.size(), buf_.size() - index);
  std::copy_n(bytes.data(), first, buf_.data() + index);
  std::copy_n(bytes.data() + first, bytes.size() - first, buf_.data());
}

void OutputBuffer::append(std::string_view bytes) {
  written_ += bytes.size();
  if (released_ || capacity_ == 0 || bytes.empty()) return;
  if (keep_ == Keep::kHead) {
    size_t keep = std::min(bytes.size(), capacity_ - size_);
    if (keep == 0) return;
    reserve(size_ + keep);
    put(size_, bytes.substr(0, keep));
    size_ += keep;
    return;
  }
  if (bytes.size() >= capacity_) {
    // Only the newest `capacity_` bytes survive: start over with them.
    reserve(capacity_);
    start_ = 0;
    put(0, bytes.substr(bytes.size() - capacity_));
    size_ = capacity_;
    begin_ = written_ - capacity_;
    return;
  }
  reserve(std::min(capacity_, size_ + bytes.size()));
  put(size_, bytes);
  if (size_ + bytes.size() <= capacity_) {
    size_ += bytes.size();
    return;
  }
  // Full: the oldest bytes were overwritten.
  size_t overflow = size_ + bytes.size() - capacity_;
  start_ = (start_ + overflow) % buf_.size();
  begin_ += overflow;
  size_ = capacity_;
}

void OutputBuffer::release() {
  released_ = true;
  begin_ = written_;
  size_ = 0;
  start_ = 0;
  std::vector<char>().swap(buf_);
}

std::string_view OutputBuffer::read(uint64_t offset, size_t max) const {
  uint64_t from = std::clamp(offset, begin(), end());
  size_t available = static_cast<size_t>(end() - from);
  if (available == 0 || max == 0) return {};
  size_t index = (start_ + static_cast<size_t>(from - begin_)) % buf_.size();
  return std::string_view(buf_.data() + index, std::min({max, available, buf_.size() - index}));
}

std::string OutputBuffer::contents() const {
  std::string out;
  for (uint64_t at = begin(); at < end();) {
    std::string_view piece = read(at, static_cast<size_t>(end() - at));
    out.append(piece);
    at += piece.size();
  }
  return out;
}

size_t utf8SafeLength(std::string_view bytes) {
  // Look back over at most 3 continuation bytes for the lead byte of the last sequence.
  size_t n = bytes.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    auto c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 1;
    if (need > back && n - back > 0) return n - back;  // cut before the unfinished sequence
    return n;
  }
  return n;
}

}  // namespace declaw::daemon
