#include "image/oci_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace declaw::image {

namespace {

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;
constexpr size_t kCopyChunk = 256 * 1024;

Error writeError(archive* a, const std::string& what) {
  int err = archive_errno(a);
  return ErrnoError(err > 0 ? err : EIO)
         << "write " << what << ": " << (archive_error_string(a) ? archive_error_string(a) : "");
}

class TarWriter {
 public:
  TarWriter(int fd, time_t mtime) : a_(archive_write_new(), archive_write_free), mtime_(mtime) {
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    ok_ = archive_write_open_fd(a_.get(), fd) == ARCHIVE_OK;
  }
  bool ok() const { return ok_; }

  Result<void> directory(const std::string& name) {
    EntryPtr e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    archive_entry_set_perm(e.get(), 0755);
    archive_entry_set_mtime(e.get(), mtime_, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return writeError(a_.get(), name);
    return {};
  }

  Result<void> file(const std::string& name, const std::string& data) {
    if (auto r = header(name, data.size()); !r) return r;
    if (archive_write_data(a_.get(), data.data(), data.size()) !=
        static_cast<la_ssize_t>(data.size())) {
      return writeError(a_.get(), name);
    }
    return {};
  }

  Result<void> fileFromFd(const std::string& name, int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return ErrnoError() << "stat " << name;
    if (auto r = header(name, static_cast<uint64_t>(st.st_size)); !r) return r;
    std::vector<char> buf(kCopyChunk);
    uint64_t left = static_cast<uint64_t>(st.st_size);
    while (left > 0) {
      ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return ErrnoError(n == 0 ? EIO : errno) << "read " << name;
      if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) != n) {
        return writeError(a_.get(), name);
      }
      left -= static_cast<uint64_t>(n);
    }
    return {};
  }

  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return writeError(a_.get(), "the archive");
    return {};
  }

 private:
  Result<void> header(const std::string& name, uint64_t size) {
    EntryPtr e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), mtime_, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return writeError(a_.get(), name);
    return {};
  }

  ArchivePtr a_;
  time_t mtime_;
  bool ok_ = false;
};

}  // namespace

Result<uint64_t> exportTemplate(const TemplateStore& store, const TemplateRecord& r, int out_fd) {
  if (!r.base.empty()) {
    return ErrnoError(EOPNOTSUPP) << "template '" << r.name << "' is built on the host-backed '"
                                  << r.base << "' template, which is not an image: there is "
                                  << "nothing to export";
  }
  auto manifest = store.readBlob(r.manifest_digest, kMaxJsonBytes);
  if (!manifest) return manifest.error();
  nlohmann::ordered_json index{
      {"schemaVersion", 2},
      {"mediaType", media::kOciIndex},
      {"manifests",
       {{{"mediaType", media::kOciManifest},
         {"digest", r.manifest_digest.str()},
         {"size", manifest->size()},
         {"annotations", {{"org.opencontainers.image.ref.name", r.name}}}}}}};
  TarWriter tar(out_fd, static_cast<time_t>(r.created_at));
  if (!tar.ok()) return ErrnoError(EIO) << "cannot write the archive";
  if (auto x = tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !x) return x.error();
  if (auto x = tar.file("index.json", index.dump()); !x) return x.error();
  if (auto x = tar.directory("blobs"); !x) return x.error();
  if (auto x = tar.directory("blobs/sha256"); !x) return x.error();
  std::vector<Digest> blobs = {r.manifest_digest, r.config_digest};
  for (const StoredLayer& l : r.layers) blobs.push_back(l.blob.digest);
  std::set<Digest> written;
  uint64_t total = 0;
  for (const Digest& d : blobs) {
    if (!written.insert(d).second) continue;
    auto fd = store.openBlob(d);
    if (!fd) return fd.error();
    if (auto x = tar.fileFromFd("blobs/sha256/" + std::string(d.hex()), fd->get()); !x) {
      return x.error();
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  if (auto x = tar.close(); !x) return x.error();
  return total;
}

}  // namespace declaw::image
