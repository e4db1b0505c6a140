// The registry's template routes: list, inspect, delete, import, export, and snapshots of
// sandboxes (docs/templates.md).
#include <fcntl.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/registry.h"
#include "image/importer.h"
#include "image/oci_export.h"
#include "image/snapshot.h"

namespace declaw::daemon {

namespace {

// Only its owner (or root) changes a template.
Result<void> checkOwner(const image::TemplateRecord& record, const api::Caller& caller) {
  if (!caller.isRoot() && record.owner_uid != caller.uid) {
    return ErrnoError(EPERM) << "template '" << record.name << "' belongs to another user";
  }
  return {};
}

Result<void> checkNotBuiltin(const std::string& name) {
  if (Templates::isBuiltin(name)) {
    return ErrnoError(EBUSY) << "'" << name << "' is a built-in template: it cannot be replaced "
                             << "or deleted";
  }
  return {};
}

}  // namespace

// A name `caller` may publish over: none there, or one of its own. Any error but "not there"
// refuses (an unreadable record must not skip the owner check). One another caller cannot see
// is "exists", not "forbidden": it says nothing of whose it is.
Result<void> checkReplaceable(image::TemplateStore& store, const std::string& name,
                              const api::Caller& caller) {
  auto existing = store.get(name);
  if (!existing) return existing.error().code == ENOENT ? Result<void>() : existing.error();
  if (!Templates::visibleTo(*existing, caller)) {
    return ErrnoError(EEXIST) << "template '" << name << "' exists";
  }
  return checkOwner(*existing, caller);
}

std::map<std::string, size_t> Registry::sandboxesByTemplate() {
  std::map<std::string, size_t> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, sbx] : live_) ++out[sbx->templ().name];
  return out;
}

api::TemplateInfo Registry::withUse(api::TemplateInfo info) {
  auto used = sandboxesByTemplate();
  info.sandboxes = used.count(info.name) ? used[info.name] : 0;
  return info;
}

std::vector<api::TemplateInfo> Registry::listTemplates(const api::Caller& caller) {
  auto used = sandboxesByTemplate();
  std::vector<api::TemplateInfo> out = parts_.templates->list(caller);
  for (api::TemplateInfo& t : out) t.sandboxes = used.count(t.name) ? used[t.name] : 0;
  return out;
}

Result<api::TemplateInfo> Registry::getTemplate(const api::Caller& caller,
                                                const std::string& name) {
  auto info = parts_.templates->info(name, caller);
  if (!info) return info.error();
  return withUse(std::move(*info));
}

Result<void> Registry::deleteTemplate(const api::Caller& caller, const std::string& name) {
  if (auto r = checkNotBuiltin(name); !r) return r;
  auto record = parts_.templates->visibleRecord(name, caller);
  if (!record) return record.error();
  if (auto r = checkOwner(*record, caller); !r) return r;
  auto r = parts_.templates->store().remove(name, [&] {
    std::lock_guard lock(mutex_);
    for (const auto& [id, sbx] : live_) {
      if (sbx->templ().name == name) return true;
    }
    return false;
  });
  if (r) {
    logger("daemon")->info("template {} deleted", name);
    if (pool_) pool_->invalidate(name);
  }
  return r;
}

Result<UniqueFd> Registry::openImportSpool(const api::Caller&) {
  return parts_.templates->openSpool();
}

Result<api::TemplateInfo> Registry::importTemplate(const api::Caller& caller,
                                                   const api::ImportSpec& spec, int archive_fd) {
  if (auto r = checkNotBuiltin(spec.name); !r) return r.error();
  if (!parts_.templates->features().images) {
    return ErrnoError(ENOSYS) << parts_.templates->features().images_off_reason;
  }
  if (spec.replace) {
    if (auto r = checkReplaceable(parts_.templates->store(), spec.name, caller); !r)
      return r.error();
  }
  const auto started = std::chrono::steady_clock::now();
  image::ImportLimits limits;
  limits.max_archive_bytes = config_.limits.max_template_bytes;
  limits.max_unpacked_bytes = config_.limits.max_template_unpacked_bytes;
  auto record = image::importImage(parts_.templates->store(),
                                   {spec.name, caller.uid, spec.replace, archive_fd}, limits);
  if (!record) {
    logger("daemon")->warn("import of template {} refused: {}", spec.name,
                           record.error().describe());
    return record.error();
  }
  if (pool_) pool_->invalidate(spec.name);
  logger("daemon")->info("template {} imported: {} layers, {} ({} ms)", spec.name,
                         record->layers.size(), record->manifest_digest.str(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count());
  return withUse(Templates::toInfo(*record));
}

Result<api::OpenedFile> Registry::exportTemplate(const api::Caller& caller,
                                                 const std::string& name) {
  if (Templates::isBuiltin(name)) {
    return ErrnoError(EOPNOTSUPP) << "'" << name << "' is a host-backed built-in template, not "
                                  << "an image: there is nothing to export";
  }
  auto record = parts_.templates->visibleRecord(name, caller);
  if (!record) return record.error();
  auto spool = parts_.templates->openSpool();
  if (!spool) return spool.error();
  auto size = image::exportTemplate(parts_.templates->store(), *record, spool->get());
  if (!size) return size.error();
  off_t end = ::lseek(spool->get(), 0, SEEK_CUR);
  if (end < 0 || ::lseek(spool->get(), 0, SEEK_SET) != 0) return ErrnoError() << "rewind";
  return api::OpenedFile{std::move(*spool), static_cast<uint64_t>(end)};
}

Result<api::TemplateInfo> Registry::snapshotSandbox(const api::Caller& caller,
                                                    const std::string& id,
                                                    const api::ImportSpec& spec) {
  if (auto r = checkNotBuiltin(spec.name); !r) return r.error();
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  image::TemplateStore& store = parts_.templates->store();
  auto lease = store.reserveName(spec.name);
  if (!lease) return lease.error();
  auto existing = store.get(spec.name);
  if (!existing && existing.error().code != ENOENT) return existing.error();
  if (existing && !spec.replace) {
    return ErrnoError(EEXIST) << "template '" << spec.name
                              << "' exists (delete it first, or snapshot with replace)";
  }
  if (existing) {
    if (auto r = checkReplaceable(parts_.templates->store(), spec.name, caller); !r)
      return r.error();
  }
  auto ws = store.newWorkspace("snapshot");
  if (!ws) return ws.error();
  const char* diff_file = "layer.tar";
  UniqueFd out(
      ::openat((*ws)->fd(), diff_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return ErrnoError() << "create the snapshot's layer";
  const auto started = std::chrono::steady_clock::now();
  auto diff = (*sbx)->writeChanges(out.get());
  if (!diff) return diff.error();
  out.reset();
  const ResolvedTemplate& tmpl = (*sbx)->templ();
  image::SnapshotRequest req;
  req.name = spec.name;
  req.owner_uid = caller.uid;
  req.replace = spec.replace;
  req.sandbox_id = id;
  req.parent_name = tmpl.name;
  req.parent = tmpl.record;
  req.builtin = tmpl.builtin;
  req.diff_file = diff_file;
  req.diff = *diff;
  req.max_file_bytes = (*sbx)->info().resources.disk_mb << 20;
  auto record = image::publishSnapshot(store, **ws, req);
  if (!record) return record.error();
  if (pool_) pool_->invalidate(spec.name);
  logger("daemon")->info("[{}] snapshot {}: {} bytes of changes, {} layers ({} ms)", id, spec.name,
                         diff->size, record->layers.size(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count());
  return withUse(Templates::toInfo(*record));
}

}  // namespace declaw::daemon
