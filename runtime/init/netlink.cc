#include "runtime/init/netlink.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstring>

namespace declaw::runtime::init {

namespace {

// An acknowledgement is an nlmsghdr + nlmsgerr (+ the echoed request header); extended acks
// may append attributes. Anything larger is cut (MSG_TRUNC) and still read as an error code.
constexpr size_t kAckBufferBytes = 8192;

void appendPadded(std::string& buf, const void* data, size_t len, size_t aligned) {
  buf.append(static_cast<const char*>(data), len);
  buf.append(aligned - len, '\0');
}

}  // namespace

NetlinkRequest::NetlinkRequest(uint16_t type, uint16_t flags, const void* header,
                               size_t header_len) {
  nlmsghdr nh{};
  nh.nlmsg_type = type;
  nh.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  appendPadded(buf_, &nh, sizeof nh, NLMSG_HDRLEN);
  appendPadded(buf_, header, header_len, NLMSG_ALIGN(header_len));
}

void NetlinkRequest::attr(uint16_t type, const void* data, size_t len) {
  nlattr na{};
  na.nla_type = type;
  na.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  appendPadded(buf_, &na, sizeof na, NLA_HDRLEN);
  appendPadded(buf_, data, len, NLA_ALIGN(len));
}

std::string_view NetlinkRequest::bytes(uint32_t seq) {
  auto* nh = reinterpret_cast<nlmsghdr*>(buf_.data());
  nh->nlmsg_len = static_cast<uint32_t>(buf_.size());
  nh->nlmsg_seq = seq;
  return buf_;
}

Result<RtnetlinkSocket> RtnetlinkSocket::open() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return ErrnoError() << "socket(AF_NETLINK, NETLINK_ROUTE)";
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return ErrnoError() << "bind netlink socket";
  }
  return RtnetlinkSocket(std::move(fd));
}

Result<void> RtnetlinkSocket::run(NetlinkRequest& request, std::string_view what) {
  const uint32_t seq = ++seq_;
  std::string_view msg = request.bytes(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoError() << "send " << what;
  alignas(nlmsghdr) char buf[kAckBufferBytes];
  for (;;) {
    ssize_t got = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoError() << "receive the answer to " << what;
    size_t len = static_cast<size_t>(got);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_seq != seq || nh->nlmsg_type != NLMSG_ERROR) continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
        return ErrnoError(EPROTO) << what << ": short acknowledgement";
      }
      const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
      if (err->error == 0) return {};
      return ErrnoError(-err->error) << what;
    }
  }
}

}  // namespace declaw::runtime::init
