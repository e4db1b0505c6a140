// A minimal rtnetlink client for declaw-init: one request at a time, each acknowledged. init
// stays small and single-threaded, so this is the raw protocol (rtnetlink(7)) rather than libnl,
// which the daemon side uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::runtime::init {

// One request under construction: the nlmsghdr, a family header (ifinfomsg, ifaddrmsg, rtmsg)
// and route attributes, aligned as NLMSG_ALIGN/RTA_ALIGN require.
class NetlinkRequest {
 public:
  // `header` is the family header, copied after the nlmsghdr. NLM_F_REQUEST | NLM_F_ACK are
  // always set; `flags` adds NLM_F_CREATE, NLM_F_EXCL, ...
  NetlinkRequest(uint16_t type, uint16_t flags, const void* header, size_t header_len);
  void attr(uint16_t type, const void* data, size_t len);
  void attrU32(uint16_t type, uint32_t value) { attr(type, &value, sizeof value); }

  // The finished message with `seq` in its header.
  std::string_view bytes(uint32_t seq);

 private:
  std::string buf_;
};

class RtnetlinkSocket {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace.
  static Result<RtnetlinkSocket> open();

  // Sends the request and waits for its acknowledgement: the kernel's error as errno, with
  // `what` as context ("RTM_NEWADDR eth0 198.18.0.2/30").
  Result<void> run(NetlinkRequest& request, std::string_view what);

 private:
  explicit RtnetlinkSocket(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

}  // namespace declaw::runtime::init
