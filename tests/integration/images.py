"""Image archives for the template tests, built here with the standard library (tarfile, gzip,
hashlib) and the `zstd` command: OCI image layouts in a tar (what `skopeo copy oci-archive:`
writes) and `docker save` archives, from layers the test describes member by member. The base
layer is Debian's busybox-static (/bin/busybox) with its applet links, so the images run real
programs without a mirror. Hostile archives (tests/integration/test_templates_hostile.py) are made
with the same pieces, written wrong on purpose.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time

BUSYBOX = "/bin/busybox"
MTIME = 1_700_000_000
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layer:
    """A layer tar, member by member, in the order added."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self._data = None

    def _info(self, name, kind, mode, uid=0, gid=0, size=0, **attrs):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        info.mtime = MTIME
        info.size = size
        for k, v in attrs.items():
            setattr(info, k, v)
        return info

    def dir(self, name, mode=0o755, uid=0, gid=0, pax=None):
        info = self._info(name, tarfile.DIRTYPE, mode, uid, gid)
        if pax:
            info.pax_headers = pax
        self.tar.addfile(info)
        return self

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0, pax=None, size=None):
        if isinstance(data, str):
            data = data.encode()
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid,
                          size=len(data) if size is None else size)
        if pax:
            info.pax_headers = pax
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name, target, uid=0, gid=0):
        self.tar.addfile(self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, linkname=target))
        return self

    def hardlink(self, name, target):
        self.tar.addfile(self._info(name, tarfile.LNKTYPE, 0o644, linkname=target))
        return self

    def fifo(self, name, mode=0o644):
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, mode))
        return self

    def device(self, name, major, minor, char=True):
        self.tar.addfile(self._info(name, tarfile.CHRTYPE if char else tarfile.BLKTYPE, 0o600,
                                    devmajor=major, devminor=minor))
        return self

    def whiteout(self, path):
        parent, _, base = path.rpartition("/")
        return self.file((parent + "/" if parent else "") + ".wh." + base, mode=0)

    def opaque(self, directory):
        return self.file(directory.rstrip("/") + "/.wh..wh..opq", mode=0)

    def data(self):
        """The uncompressed tar (closing the layer on first use)."""
        if self._data is None:
            self.tar.close()
            self._data = self.buf.getvalue()
        return self._data


def busybox_layer(extra_applets=()):
    """A root with busybox and its applets in /bin, /etc with root's account only, /tmp."""
    layer = Layer()
    for d in ("bin", "etc", "tmp", "root", "usr", "usr/bin", "var"):
        layer.dir(d, mode=0o1777 if d == "tmp" else 0o700 if d == "root" else 0o755)
    with open(BUSYBOX, "rb") as f:
        layer.file("bin/busybox", f.read(), mode=0o755)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in sorted(set(applets) | set(extra_applets)):
        if applet != "busybox":
            layer.symlink("bin/" + applet, "busybox")
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    layer.file("etc/group", "root:x:0:\n")
    return layer


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                              check=True).stdout
    return data


def layer_media_type(how):
    return {"gzip": OCI_LAYER + "+gzip", "zstd": OCI_LAYER + "+zstd"}.get(how, OCI_LAYER)


def image_config(diff_ids, env=None, workdir=None, user=None, arch="amd64", os_name="linux"):
    config = {"architecture": arch, "os": os_name,
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}
    if env is not None:
        config["config"]["Env"] = env
    if workdir is not None:
        config["config"]["WorkingDir"] = workdir
    if user is not None:
        config["config"]["User"] = user
    return config


class Image:
    """An image: layers (base first) and a config. oci_archive() and docker_archive() write it;
    `tamper` hooks let the hostile tests break one thing at a time."""

    def __init__(self, layers, env=None, workdir=None, user=None, compression=None, **config):
        self.layers = layers
        self.compression = compression or [None] * len(layers)
        self.config_extra = dict(env=env, workdir=workdir, user=user, **config)

    def blobs(self):
        """(layer blobs, diff_ids, config bytes)."""
        raws = [layer.data() for layer in self.layers]
        blobs = [compress(raw, how) for raw, how in zip(raws, self.compression)]
        diff_ids = [sha256(raw) for raw in raws]
        config = json.dumps(image_config(diff_ids, **self.config_extra)).encode()
        return blobs, diff_ids, config

    def oci_archive(self, tamper=None):
        """The OCI image layout as a tar (bytes). tamper(dict) may change 'index', 'manifest',
        'config', 'blobs' (name -> bytes) before they are written."""
        blobs, _, config = self.blobs()
        layer_descs = [{"mediaType": layer_media_type(how), "digest": sha256(b), "size": len(b)}
                       for b, how in zip(blobs, self.compression)]
        parts = {"config": config, "layer_descs": layer_descs, "layers": blobs}
        if tamper:
            tamper(parts)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": sha256(parts["config"]),
                                          "size": len(parts["config"])},
                               "layers": parts["layer_descs"]}).encode()
        parts.setdefault("manifest", manifest)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(parts["manifest"]),
                                "size": len(parts["manifest"]),
                                "annotations": {"org.opencontainers.image.ref.name": "test"}}]}
        parts.setdefault("index", json.dumps(index).encode())
        files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": parts["index"]}
        for blob in [parts["manifest"], parts["config"], *parts["layers"]]:
            files["blobs/sha256/" + sha256(blob)[7:]] = blob
        files.update(parts.get("extra_files", {}))
        return tar_of(files, dirs=["blobs", "blobs/sha256"])

    def docker_archive(self):
        """`docker save`'s legacy layout: manifest.json, <config hex>.json, <id>/layer.tar."""
        blobs, _, config = self.blobs()
        files = {}
        layer_paths = []
        for blob in blobs:
            path = sha256(blob)[7:] + "/layer.tar"
            files[path] = blob
            layer_paths.append(path)
        config_name = sha256(config)[7:] + ".json"
        files[config_name] = config
        files["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": ["test:latest"],
                                              "Layers": layer_paths}]).encode()
        return tar_of(files)


def tar_of(files, dirs=()):
    """A tar (bytes) of name -> bytes, with the given directories first."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = MTIME
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def import_archive(api, name, archive, replace=False, timeout=300):
    """PUT /v1/templates/{name} with the archive as the body; the Response."""
    query = {"replace": "true"} if replace else None
    return api.request("PUT", f"/v1/templates/{name}", archive, query=query, raw=True,
                       headers={"Content-Type": "application/x-tar"}, timeout=timeout)


def unique(prefix):
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


def delete_all_templates(api):
    """Deletes every template but the built-ins (a test class's tearDownClass)."""
    for t in api.request("GET", "/v1/templates").json()["templates"]:
        if t["source"] != "builtin":
            api.request("DELETE", f"/v1/templates/{t['name']}")


def import_in_setup(cls, name, archive):
    """An import in a test class's setUpClass: the TemplateInfo, or the daemon stopped (a failed
    setUpClass skips tearDownClass) and the failure raised."""
    r = import_archive(cls.api, name, archive)
    if r.status != 201:
        cls.daemon.stop()
        raise AssertionError(f"import of {name} failed: {r}")
    return r.json()
