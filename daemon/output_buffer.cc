#include "daemon/output_buffer.h"

#include <algorithm>

namespace declaw::daemon {

void OutputBuffer::append(std::string_view bytes) {
  written_ += bytes.size();
  if (released_) return;
  if (keep_ == Keep::kHead) {
    size_t room = capacity_ - std::min(capacity_, data_.size());
    data_.append(bytes.substr(0, std::min(room, bytes.size())));
    return;
  }
  if (bytes.size() >= capacity_) {
    // Only the newest `capacity_` bytes survive: start over with them.
    base_ += data_.size() + (bytes.size() - capacity_);
    data_.assign(bytes.substr(bytes.size() - capacity_));
    start_ = 0;
    return;
  }
  data_.append(bytes);
  size_t kept = data_.size() - start_;
  if (kept > capacity_) start_ += kept - capacity_;
  // Compact once the dead front is as large as the capacity: each byte is moved at most once
  // per `capacity_` bytes appended, so a process writing gigabytes costs linear time.
  if (start_ >= capacity_) {
    data_.erase(0, start_);
    base_ += start_;
    start_ = 0;
  }
}

void OutputBuffer::release() {
  released_ = true;
  base_ += data_.size();
  data_.clear();
  data_.shrink_to_fit();
  start_ = 0;
}

std::string_view OutputBuffer::read(uint64_t offset, size_t max) const {
  uint64_t from = std::clamp(offset, begin(), end());
  size_t index = static_cast<size_t>(from - base_);
  return std::string_view(data_).substr(index, std::min(max, data_.size() - index));
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
