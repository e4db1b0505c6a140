#include "netpolicy/kernel/veth.h"

#include <linux/if_addr.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "netpolicy/nft_plan.h"

namespace declaw::netpolicy {

namespace {

// libnl objects live in unique_ptrs with their free functions (STYLE rule 1).
template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using SockPtr = std::unique_ptr<nl_sock, Deleter<nl_sock, nl_socket_free>>;
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;

// libnl turns the kernel's errno into its own NLE_ codes (nl_syserr2nlerr); this is the way back,
// so callers see EEXIST, ENODEV, EPERM as from any other syscall wrapper.
int errnoOf(int nl_error) {
  switch (nl_error < 0 ? -nl_error : nl_error) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_NODEV:
      return ENODEV;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_INVAL:
      return EINVAL;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_BUSY:
      return EBUSY;
    case NLE_RANGE:
      return ERANGE;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_INTR:
      return EINTR;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    default:
      return EIO;
  }
}

ErrorBuilder nlError(int nl_error) {
  ErrorBuilder e = ErrnoError(errnoOf(nl_error));
  if (errnoOf(nl_error) == EIO) e << "(libnl: " << nl_geterror(nl_error) << ") ";
  return e;
}

Result<SockPtr> routeSocket() {
  SockPtr sock(nl_socket_alloc());
  if (!sock) return ErrnoError(ENOMEM) << "nl_socket_alloc";
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return nlError(err) << "connect to rtnetlink";
  }
  return sock;
}

Result<LinkPtr> getLink(nl_sock* sock, const std::string& name) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw); err < 0) {
    return nlError(err) << "link " << name;
  }
  return LinkPtr(raw);
}

Result<void> addAddress(nl_sock* sock, int ifindex, const std::string& ifname,
                        const InterfaceAddress& a) {
  AddrPtr addr(rtnl_addr_alloc());
  const int family = a.address.isV4() ? AF_INET : AF_INET6;
  NlAddrPtr local(nl_addr_build(family, a.address.bytes().data(), a.address.bytes().size()));
  if (!addr || !local) return ErrnoError(ENOMEM) << "rtnl_addr_alloc";
  nl_addr_set_prefixlen(local.get(), a.prefix_len);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), family);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return nlError(err) << "address " << a.address.toString();
  }
  // Usable at once: the sandbox end's address differs by construction.
  if (family == AF_INET6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  if (int err = rtnl_addr_add(sock, addr.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return nlError(err) << "add " << a.address.toString() << "/" << a.prefix_len << " to "
                        << ifname;
  }
  return {};
}

Result<void> setUp(nl_sock* sock, rtnl_link* link, const std::string& ifname) {
  LinkPtr change(rtnl_link_alloc());
  if (!change) return ErrnoError(ENOMEM) << "rtnl_link_alloc";
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock, link, change.get(), 0); err < 0) {
    return nlError(err) << "set " << ifname << " up";
  }
  return {};
}

// Steps 2-4 of createVeth, on the host end that step 1 made.
Result<void> configureHostEnd(nl_sock* sock, const VethPlan& plan) {
  for (const SysctlSetting& s : plan.host_sysctls) {
    if (auto r = applySysctl(s); !r) return r;
  }
  auto link = getLink(sock, plan.host_name);
  if (!link) return link.error();
  const int ifindex = rtnl_link_get_ifindex(link->get());
  for (const InterfaceAddress& a : plan.host_addresses) {
    if (auto r = addAddress(sock, ifindex, plan.host_name, a); !r) return r;
  }
  return setUp(sock, link->get(), plan.host_name);
}

}  // namespace

bool isValidIfName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0';
  });
}

Result<VethPlan> planSandboxVeth(std::string_view key, const Lease& lease,
                                 std::string_view peer_name) {
  auto host_name = hostIfName(key);
  if (!host_name) return host_name.error();
  if (!isValidIfName(peer_name)) {
    return ErrnoError(EINVAL) << "peer name '" << std::string(peer_name)
                              << "' is not a valid interface name";
  }
  if (!lease.v4.host.isV4() || (lease.v6 && lease.v6->host.isV4())) {
    return ErrnoError(EINVAL) << "lease for " << *host_name << " has addresses of the wrong family";
  }
  VethPlan plan;
  plan.host_name = std::move(*host_name);
  plan.peer_name = std::string(peer_name);
  plan.host_addresses.push_back({lease.v4.host, lease.v4.subnet.prefixLength()});
  const std::string v4conf = "net/ipv4/conf/" + plan.host_name + "/";
  const std::string v6conf = "net/ipv6/conf/" + plan.host_name + "/";
  plan.host_sysctls.push_back({v4conf + "rp_filter", "1", false});
  plan.host_sysctls.push_back({v4conf + "accept_redirects", "0", false});
  if (lease.v6) {
    plan.host_addresses.push_back({lease.v6->host, lease.v6->subnet.prefixLength()});
    plan.host_sysctls.push_back({v6conf + "accept_ra", "0", false});
    plan.host_sysctls.push_back({v6conf + "accept_redirects", "0", false});
  } else {
    plan.host_sysctls.push_back({v6conf + "disable_ipv6", "1", true});
  }
  return plan;
}

Result<void> createVeth(const VethPlan& plan, BorrowedFd peer_netns) {
  if (!isValidIfName(plan.host_name) || !isValidIfName(plan.peer_name)) {
    return ErrnoError(EINVAL) << "veth names '" << plan.host_name << "'/'" << plan.peer_name
                              << "' are not valid interface names";
  }
  if (peer_netns.get() < 0) return ErrnoError(EBADF) << "veth " << plan.host_name << ": no netns";
  auto sock = routeSocket();
  if (!sock) return sock.error();
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return ErrnoError(ENOMEM) << "rtnl_link_veth_alloc";
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(link.get(), plan.host_name.c_str());
  rtnl_link_set_name(peer.get(), plan.peer_name.c_str());
  rtnl_link_set_ns_fd(peer.get(), peer_netns.get());
  if (int err = rtnl_link_add(sock->get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return nlError(err) << "create veth " << plan.host_name << " (peer " << plan.peer_name
                        << " in the sandbox's netns)";
  }
  if (auto r = configureHostEnd(sock->get(), plan); !r) {
    (void)deleteLink(plan.host_name);  // the pair or nothing; the first error is the one to see
    return r;
  }
  return {};
}

Result<void> deleteLink(std::string_view name) {
  auto sock = routeSocket();
  if (!sock) return sock.error();
  LinkPtr link(rtnl_link_alloc());
  if (!link) return ErrnoError(ENOMEM) << "rtnl_link_alloc";
  const std::string n(name);
  rtnl_link_set_name(link.get(), n.c_str());
  int err = rtnl_link_delete(sock->get(), link.get());
  if (err < 0 && errnoOf(err) != ENODEV) return nlError(err) << "delete link " << n;
  return {};
}

Result<LinkCounters> linkCounters(std::string_view name) {
  auto sock = routeSocket();
  if (!sock) return sock.error();
  auto link = getLink(sock->get(), std::string(name));
  if (!link) return link.error();
  LinkCounters c;
  c.rx_bytes = rtnl_link_get_stat(link->get(), RTNL_LINK_RX_BYTES);
  c.tx_bytes = rtnl_link_get_stat(link->get(), RTNL_LINK_TX_BYTES);
  c.rx_packets = rtnl_link_get_stat(link->get(), RTNL_LINK_RX_PACKETS);
  c.tx_packets = rtnl_link_get_stat(link->get(), RTNL_LINK_TX_PACKETS);
  return c;
}

Result<std::vector<std::string>> listLinks(std::string_view prefix) {
  auto sock = routeSocket();
  if (!sock) return sock.error();
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, &raw); err < 0) {
    return nlError(err) << "list links";
  }
  CachePtr cache(raw);
  std::vector<std::string> names;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(obj));
    if (name != nullptr && std::string_view(name).starts_with(prefix)) names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace declaw::netpolicy
