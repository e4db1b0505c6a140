"""100 MiB through the SDK, both ways, streamed: the upload is generated as it is sent and the
download hashed as it arrives, so the test holds no copy; the SDK's own memory is measured with
tracemalloc."""
import hashlib
import time
import tracemalloc
import unittest

from support import MIB, PseudoRandomFile, SdkTestCase, pseudo_random_chunks

SIZE = 100 * MIB


class LargeFiles(SdkTestCase):
    shared_sandbox = {"template": "base", "timeout": 600}

    def setUp(self):
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)

    def peak_during(self, action):
        """(result, peak bytes allocated while ACTION ran)."""
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = action()
        return result, tracemalloc.get_traced_memory()[1] - base

    def streamed_sha256(self, path):
        hasher = hashlib.sha256()
        total = 0
        for chunk in self.shared.files.read(path, format="stream"):
            hasher.update(chunk)
            total += len(chunk)
        return hasher.hexdigest(), total

    def test_a_100_mib_file_goes_in_and_out_intact_without_copies_in_memory(self):
        source = PseudoRandomFile(SIZE, seed=7)
        start = time.monotonic()
        info, upload_peak = self.peak_during(lambda: self.shared.files.write("/tmp/big.bin",
                                                                             source))
        upload_s = time.monotonic() - start
        self.assertEqual(info.size, SIZE)
        self.assertEqual(self.shared.files.get_info("/tmp/big.bin").size, SIZE)
        # Chunks of 1 MiB are in flight, never the file.
        self.assertLess(upload_peak, 16 * MIB, "the upload held the file in memory")

        (digest, total), download_peak = self.peak_during(
            lambda: self.streamed_sha256("/tmp/big.bin"))
        self.assertEqual(total, SIZE)
        self.assertEqual(digest, source.hasher.hexdigest())
        self.assertLess(download_peak, 16 * MIB, "the streamed download held the file")

        inside = self.shared.commands.run("sha256sum /tmp/big.bin", timeout=120).stdout
        self.assertEqual(inside.split()[0], source.hasher.hexdigest())

        data, bytes_peak = self.peak_during(
            lambda: self.shared.files.read("/tmp/big.bin", format="bytes"))
        self.assertEqual(len(data), SIZE)
        self.assertEqual(hashlib.sha256(data).hexdigest(), source.hasher.hexdigest())
        # One copy: the bytearray it returns (allocated once, filled in place).
        self.assertLess(bytes_peak, SIZE + 16 * MIB, "format='bytes' made extra copies")
        del data
        print(f"\n    100 MiB upload {upload_s:.2f} s; peaks: upload {upload_peak / MIB:.1f} "
              f"MiB, stream {download_peak / MIB:.1f} MiB, bytes {bytes_peak / MIB:.1f} MiB")

    def test_a_100_mib_upload_of_unknown_size_is_sent_chunked(self):
        chunks, hasher = pseudo_random_chunks(SIZE, seed=8)
        info, peak = self.peak_during(lambda: self.shared.files.write("/tmp/chunked.bin",
                                                                      chunks))
        self.assertEqual(info.size, SIZE)
        self.assertLess(peak, 16 * MIB)
        self.assertEqual(self.streamed_sha256("/tmp/chunked.bin"), (hasher.hexdigest(), SIZE))
        self.shared.files.remove("/tmp/chunked.bin")


if __name__ == "__main__":
    unittest.main()
