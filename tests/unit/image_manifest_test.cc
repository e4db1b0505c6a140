// image/manifest.h, image/digest.h and image/template_name.h: the JSON documents of image
// archives, digests and template names, as plain values. No root, no disk.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "image/digest.h"
#include "image/manifest.h"
#include "image/template_name.h"

using namespace declaw::image;
using nlohmann::json;

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kOther = "sha256:" + std::string(64, 'b');

json descriptor(const std::string& media, const std::string& digest = kDigest, int size = 10) {
  return {{"mediaType", media}, {"digest", digest}, {"size", size}};
}

std::string manifest(json layers) {
  return json{{"schemaVersion", 2},
              {"mediaType", media::kOciManifest},
              {"config", descriptor(std::string(media::kOciConfig))},
              {"layers", layers}}
      .dump();
}

}  // namespace

TEST_CASE("digests are sha256 and 64 lowercase hex digits, nothing else") {
  CHECK(Digest::parse(kDigest).has_value());
  CHECK(Digest::parse(kDigest)->hex() == std::string(64, 'a'));
  CHECK_FALSE(Digest::parse("sha512:" + std::string(128, 'a')).has_value());
  CHECK_FALSE(Digest::parse("sha256:" + std::string(63, 'a')).has_value());
  CHECK_FALSE(Digest::parse("sha256:" + std::string(64, 'A')).has_value());
  CHECK_FALSE(Digest::parse("sha256:" + std::string(62, 'a') + "/.").has_value());
  CHECK(sha256Of("").str() ==
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.update("a");
  h.update("bc");
  CHECK(h.finish() == sha256Of("abc"));
}

TEST_CASE("an index lists descriptors; one entry is chosen by platform or by being alone") {
  auto one = parseIndex(json{{"manifests", {descriptor(std::string(media::kOciManifest))}}}.dump());
  REQUIRE(one.ok());
  CHECK(chooseManifest(*one, "linux/amd64").ok());
  json two = descriptor(std::string(media::kOciManifest), kOther);
  two["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
  json three = descriptor(std::string(media::kOciManifest));
  three["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  auto both = parseIndex(json{{"manifests", {two, three}}}.dump());
  REQUIRE(both.ok());
  auto chosen = chooseManifest(*both, "linux/amd64");
  REQUIRE(chosen.ok());
  CHECK(chosen->digest.str() == kDigest);
  auto none = chooseManifest(*both, "linux/riscv64");
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("linux/arm64") && Catch::Contains("riscv64"));
  CHECK_FALSE(chooseManifest({}, "linux/amd64").ok());
}

TEST_CASE("a manifest names its config and its layers, which must be tar layers") {
  auto m = parseManifest(manifest(json::array({descriptor(std::string(media::kOciLayerGzip)),
                                               descriptor(std::string(media::kDockerLayerGzip))})));
  REQUIRE(m.ok());
  CHECK(m->layers.size() == 2);
  CHECK(m->config.digest.str() == kDigest);
  auto foreign = parseManifest(manifest(
      json::array({descriptor("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")})));
  REQUIRE_FALSE(foreign.ok());
  CHECK_THAT(foreign.error().message, Catch::Contains("layers[0]"));
  json bad_digest = descriptor(std::string(media::kOciLayer), "sha256:../../etc/passwd");
  CHECK_FALSE(parseManifest(manifest(json::array({bad_digest}))).ok());
  json negative = descriptor(std::string(media::kOciLayer));
  negative["size"] = -1;
  CHECK_FALSE(parseManifest(manifest(json::array({negative}))).ok());
  json many = json::array();
  for (size_t i = 0; i <= kMaxLayers; ++i)
    many.push_back(descriptor(std::string(media::kOciLayer)));
  auto too_many = parseManifest(manifest(many));
  REQUIRE_FALSE(too_many.ok());
  CHECK_THAT(too_many.error().message, Catch::Contains("101 layers"));
  CHECK_FALSE(parseManifest("[]").ok());
  CHECK_FALSE(parseManifest("{").ok());
  CHECK(parseManifest(std::string(kMaxJsonBytes + 1, ' ')).error().code == EFBIG);
}

TEST_CASE("the config gives env, workdir, user and diff_ids, and must fit the manifest") {
  json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config", {{"Env", {"PATH=/bin", "A=b=c"}}, {"WorkingDir", "/app"}, {"User", "1000"}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {kDigest, kOther}}}}};
  auto c = parseConfig(config.dump());
  REQUIRE(c.ok());
  CHECK(c->env == std::vector<std::string>{"PATH=/bin", "A=b=c"});
  CHECK(c->working_dir == "/app");
  CHECK(c->user == "1000");
  CHECK(c->diff_ids.size() == 2);
  auto m = parseManifest(manifest(json::array({descriptor(std::string(media::kOciLayer))})));
  REQUIRE(m.ok());
  CHECK_THAT(checkImage(*m, *c).error().message, Catch::Contains("2 diff_ids for 1 layers"));
  c->diff_ids.pop_back();
  CHECK(checkImage(*m, *c).ok());
  c->architecture = "arm64";
  if (hostPlatform() == "linux/amd64") CHECK_FALSE(checkImage(*m, *c).ok());
  c->architecture = "";
  c->os = "windows";
  CHECK_FALSE(checkImage(*m, *c).ok());

  json bad_env = config;
  bad_env["config"]["Env"] = {"=x"};
  CHECK_FALSE(parseConfig(bad_env.dump()).ok());
  json no_rootfs = config;
  no_rootfs.erase("rootfs");
  CHECK_FALSE(parseConfig(no_rootfs.dump()).ok());
  json wrong_type = config;
  wrong_type["rootfs"]["type"] = "squashfs";
  CHECK_FALSE(parseConfig(wrong_type.dump()).ok());
}

TEST_CASE("docker save's manifest.json holds exactly one image") {
  auto d = parseDockerManifest(
      json::array({{{"Config", "abc.json"}, {"RepoTags", {"x:1"}}, {"Layers", {"a/layer.tar"}}}})
          .dump());
  REQUIRE(d.ok());
  CHECK(d->config_path == "abc.json");
  CHECK(d->layer_paths == std::vector<std::string>{"a/layer.tar"});
  auto two = parseDockerManifest(json::array({{{"Config", "a"}}, {{"Config", "b"}}}).dump());
  REQUIRE_FALSE(two.ok());
  CHECK_THAT(two.error().message, Catch::Contains("2 images"));
  CHECK_FALSE(parseDockerManifest("{}").ok());
  CHECK_FALSE(parseDockerManifest(json::array({{{"Layers", {"x"}}}}).dump()).ok());
}

TEST_CASE("template names are what a URL segment and a file name can hold") {
  CHECK(templateNameProblem("py-3.12_tools").empty());
  CHECK(templateNameProblem("A1").empty());
  CHECK(templateNameProblem(std::string(128, 'a')).empty());
  for (const char* bad : {"", "-x", ".x", "_x", "a b", "a/b", "a:b", "é", "a\nb", "..", "a%2Fb"}) {
    INFO(bad);
    CHECK_FALSE(templateNameProblem(bad).empty());
  }
  CHECK_FALSE(templateNameProblem(std::string(129, 'a')).empty());
}
