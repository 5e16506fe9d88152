#pragma once
// What an OCI image asks of a container, and how a pod's container overrides it, without I/O:
// image references as Kubernetes and container engines write them, the parts of an image's
// configuration a container runs with, and Kubernetes' rules for command, args and pull policy.
//
//   auto ref = parse_image_ref("redis:7");        // docker.io/library/redis:7
//   PullPolicy p = default_pull_policy(*ref);    // IfNotPresent (a tag other than latest)
//   auto config = parse_image_config(blob);      // Entrypoint, Cmd, Env, WorkingDir, User
//   auto argv = container_argv(*config, spec.command, spec.args);
//
// Everything parsed here comes from outside (a manifest, an image someone else built): sizes
// are bounded, and what cannot be read exactly is an error naming what is wrong.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace tender::pod {

// registry/repository[:tag][@digest], the way `docker pull` and the kubelet read it: a first
// component with a '.' or ':', or "localhost", is a registry; otherwise the registry is
// docker.io, where a one-component repository is under library/ ("redis" is
// docker.io/library/redis). Without tag or digest the tag is "latest".
struct ImageRef {
  std::string registry;    // "docker.io", "localhost:5000"
  std::string repository;  // "library/redis"
  std::string tag;         // "7"; empty only when a digest is given without a tag
  std::string digest;      // "sha256:<64 hex>", or empty

  // registry/repository, then ":tag" if any, then "@digest" if any.
  [[nodiscard]] std::string canonical() const;
  friend bool operator==(const ImageRef&, const ImageRef&) = default;
};

// The longest reference accepted (the distribution spec bounds a name at 255; a tag adds 128
// and a digest 71).
inline constexpr std::size_t kMaxImageRefBytes = 512;

// Parses `text`. Fails with invalid_argument saying which part is malformed: upper case in the
// repository, an empty component, a bad tag (at most 128 of [A-Za-z0-9_.-], not starting with
// '.' or '-'), a digest that is not sha256:<64 lowercase hex>, or more than kMaxImageRefBytes.
[[nodiscard]] Result<ImageRef> parse_image_ref(std::string_view text);

enum class PullPolicy { kAlways, kIfNotPresent, kNever };

// Kubernetes' default when imagePullPolicy is not given: Always for the tag "latest" (or no
// tag and no digest), IfNotPresent otherwise.
[[nodiscard]] PullPolicy default_pull_policy(const ImageRef& ref);

// imagePullPolicy's value ("Always", "IfNotPresent", "Never"). Fails with invalid_argument.
[[nodiscard]] Result<PullPolicy> parse_pull_policy(std::string_view text);

// The part of an OCI image configuration (application/vnd.oci.image.config.v1+json, or
// Docker's, which has the same fields) a container runs with.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::pair<std::string, std::string>> env;  // "NAME=value" split, in order
  std::string working_dir;                               // empty: "/"
  std::string user;                                      // "", "uid", "uid:gid", "name", ...
  std::vector<std::string> diff_ids;                     // rootfs.diff_ids, bottom layer first
  std::string os;
  std::string architecture;
};

// The largest configuration accepted; real ones are a few KiB.
inline constexpr std::size_t kMaxImageConfigBytes = std::size_t{1} << 20;

// Parses an image configuration blob. Fails with invalid_argument for malformed JSON, a field
// of the wrong type, an Env entry without '=', an OS other than linux, or more than
// kMaxImageConfigBytes.
[[nodiscard]] Result<ImageConfig> parse_image_config(std::string_view json);

// The argv a container of `image` runs, by Kubernetes' rule: `command` replaces the image's
// Entrypoint (and drops its Cmd); `args` replaces its Cmd. Empty if there is nothing to run
// (no command, no Entrypoint, no args, no Cmd).
[[nodiscard]] std::vector<std::string> container_argv(const ImageConfig& image,
                                                      const std::vector<std::string>& command,
                                                      const std::vector<std::string>& args);

// Who a container of an image runs as, from the image's User ("", "uid", "name", "uid:gid",
// "name:group") and the image's /etc/passwd and /etc/group (their text; empty if the image has
// none), as container engines resolve it: a numeric uid without a group takes its passwd
// entry's group, or 0; a name must be in passwd, a group name in group; the supplementary
// groups are those that list the user by name. Fails with invalid_argument naming what is
// missing or malformed.
struct ImageUser {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;  // supplementary, without gid
  friend bool operator==(const ImageUser&, const ImageUser&) = default;
};
[[nodiscard]] Result<ImageUser> resolve_image_user(std::string_view user, std::string_view passwd,
                                                   std::string_view group);

}  // namespace tender::pod
