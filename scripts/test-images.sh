#!/usr/bin/env bash
# Builds the real Debian image the template tests import (tests/integration/test_templates_debian.py),
# once per machine, into DECLAW_TEST_IMAGE_DIR (default /var/cache/declaw-test):
#
#   debian-rootfs.tar   mmdebstrap --variant=minbase bookworm (from the mirror apt uses), without
#                       the device nodes it would put in /dev (declaw refuses them in a layer)
#   hello.deb           Debian's `hello`, for an offline dpkg -i inside a sandbox
#   debian-oci.tar      umoci: that rootfs as one layer, with an Env and a WorkingDir;
#                       skopeo: copied to an oci-archive
#   debian-docker.tar   skopeo: the same image as a `docker save` archive
#
# This is the install step's network use (like apt-get in install-deps.sh): the tests themselves
# never fetch anything. Re-run with FORCE=1 to rebuild.
set -euo pipefail
dir=${DECLAW_TEST_IMAGE_DIR:-/var/cache/declaw-test}
mkdir -p "$dir"
cd "$dir"
if [ "${FORCE:-0}" != 1 ] && [ -s debian-oci.tar ] && [ -s debian-docker.tar ] && [ -s hello.deb ]; then
  echo "test-images: using the images in $dir"
  exit 0
fi
rm -rf layout debian-rootfs.tar.tmp
echo "test-images: building a Debian bookworm image in $dir (mmdebstrap, umoci, skopeo)"
mmdebstrap --quiet --variant=minbase --format=tar --skip=output/dev bookworm debian-rootfs.tar.tmp
mv debian-rootfs.tar.tmp debian-rootfs.tar
(cd /tmp && apt-get download -qq hello 2>/dev/null && mv hello_*.deb "$dir"/hello.deb)
umoci init --layout layout
umoci new --image layout:debian
umoci raw add-layer --image layout:debian debian-rootfs.tar
umoci config --image layout:debian --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --config.env "LANG=C.UTF-8" --config.workingdir /root --os linux --architecture amd64
rm -f debian-oci.tar debian-docker.tar
skopeo copy --quiet oci:layout:debian oci-archive:debian-oci.tar:debian
skopeo copy --quiet oci:layout:debian docker-archive:debian-docker.tar:debian:bookworm
rm -rf layout
ls -la "$dir"
