// The runner's image containers: the image made ready (pulled as imagePullPolicy says, its
// layers unpacked and locked), and what a process of one runs with (an overlay root on those
// layers, the image's entrypoint, environment, working directory and user, merged with the
// manifest's as Kubernetes merges them).
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/log.hpp"
#include "pod/image_store.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {

namespace {

namespace fs = std::filesystem;

// What a container engine sets when the image has no PATH.
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The file at `relative` as the overlay of `layers` (top first) shows it: the topmost layer
// that has it, unless a whiteout or an opaque directory above hides it. Empty if there is
// none, or it is not a regular file, or it is larger than a passwd file should be.
std::string image_file(const std::vector<std::string>& layers, const std::string& relative) {
  constexpr std::uintmax_t kMaxBytes = std::uintmax_t{1} << 20;
  const std::string dir = fs::path(relative).parent_path().string();
  for (const std::string& layer : layers) {
    struct stat st {};
    std::string path = layer + "/" + relative;
    if (::lstat(path.c_str(), &st) == 0) {
      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        return "";  // a whiteout: deleted in this layer
      }
      if (!S_ISREG(st.st_mode) || static_cast<std::uintmax_t>(st.st_size) > kMaxBytes) {
        return "";
      }
      std::ifstream in(path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      return text.str();
    }
    char opaque = 0;
    std::string parent = layer + "/" + dir;
    if (::lgetxattr(parent.c_str(), "trusted.overlay.opaque", &opaque, 1) == 1 && opaque == 'y') {
      return "";  // lower layers' files in it are hidden
    }
  }
  return "";
}

}  // namespace

bool PodRunner::Impl::runs_image(const ContainerSpec& s) const {
  return s.command.empty() || opts.runtime == RunnerOptions::Runtime::kOci;
}

asio::awaitable<bool> PodRunner::Impl::ensure_image(Pod& pod, Container& c) {
  if (!runs_image(c.spec) || c.image) {
    co_return true;
  }
  if (!c.spec.image_ref) {
    fail_start(pod, c, "CreateContainerConfigError",
               "no image to run: --runtime oci runs every container from its image");
    co_return false;
  }
  if (!privileged) {
    fail_start(pod, c, "CreateContainerConfigError",
               "running an image needs root (its root filesystem is an overlay)");
    co_return false;
  }
  const ImageRef ref = *c.spec.image_ref;
  const std::string name = ref.canonical();
  c.state = Container::State::kWaiting;
  c.reason = "ContainerCreating";
  update_summary();
  auto found = images->find(ref);
  if (!found) {
    fail_start(pod, c, "ErrImagePull", found.error().message());
    co_return false;
  }
  if (c.spec.pull_policy == PullPolicy::kNever && !*found) {
    fail_start(pod, c, "ErrImageNeverPull",
               "image " + name + " is not in the store (" + images->dir() +
                   ") and imagePullPolicy is Never: add it with `tender pod images import`");
    co_return false;
  }
  if (c.spec.pull_policy == PullPolicy::kAlways || !*found) {
    log::info("pulling image",
              {{"pod", pod.spec.name}, {"container", c.spec.name}, {"image", name}});
    auto pulled = co_await images->copy_in("docker://" + name, ref);
    if (!pulled) {
      fail_start(pod, c, "ErrImagePull", "pulling " + name + ": " + pulled.error().message());
      co_return false;
    }
  }
  auto prepared = co_await images->prepare(ref);
  if (!prepared) {
    fail_start(pod, c, "CreateContainerError", name + ": " + prepared.error().message());
    co_return false;
  }
  if (pod.terminating || c.stopping) {
    co_return true;  // told to stop meanwhile: the caller starts nothing, and holds no layers
  }
  c.image_id = prepared->digest;
  c.image = std::make_shared<const PreparedImage>(std::move(*prepared));
  co_return true;
}

Result<> PodRunner::Impl::image_process(
    const Pod& pod, const Container& c, SpawnOptions& o,
    const std::vector<std::pair<std::string, std::string>>& services,
    const std::vector<std::pair<std::string, std::string>>& resolved) const {
  const ImageConfig& config = c.image->config;
  // The default PATH, then the image's environment (its PATH replaces it), then the runner's
  // and the manifest's, which win.
  EnvEntries env;
  env.set("PATH", kDefaultPath);
  for (const auto& [k, v] : config.env) {
    env.set(k, v);
  }
  o.env = container_env(pod, services, resolved, std::move(env));
  o.cwd = !c.spec.working_dir.empty()   ? c.spec.working_dir
          : !config.working_dir.empty() ? config.working_dir
                                        : "/";
  // The user: runAsUser, or the image's; its group and groups as the image names them.
  const SecuritySpec& s = c.spec.security;
  const std::string passwd = image_file(c.image->layers, "etc/passwd");
  const std::string group = image_file(c.image->layers, "etc/group");
  auto user = resolve_image_user(s.run_as_user ? std::to_string(*s.run_as_user) : config.user,
                                 passwd, group);
  if (!user) {
    return user.error();
  }
  if (s.run_as_non_root && user->uid == 0) {
    return Error(std::errc::operation_not_permitted,
                 "runAsNonRoot is true but the image runs as root (set runAsUser)");
  }
  SpawnOptions::User u;
  u.uid = user->uid;
  u.gid = s.run_as_group ? static_cast<gid_t>(*s.run_as_group) : user->gid;
  u.groups.push_back(u.gid);
  for (auto g : user->groups) {
    u.groups.push_back(g);
  }
  for (std::int64_t g : s.groups) {
    u.groups.push_back(static_cast<gid_t>(g));
  }
  o.user = std::move(u);
  return {};
}

Result<> PodRunner::Impl::image_root(
    const Pod& pod, const Container& c, SpawnOptions& o,
    const std::vector<std::pair<std::string, std::string>>& services,
    const std::vector<std::pair<std::string, std::string>>& resolved) const {
  if (auto made = image_process(pod, c, o, services, resolved); !made) {
    return made;
  }
  // command and args, expanded, in place of the image's Entrypoint and Cmd.
  std::vector<std::string> expanded = expand_argv(c.spec, resolved, services);
  auto split = expanded.begin() + static_cast<std::ptrdiff_t>(c.spec.command.size());
  std::vector<std::string> command(expanded.begin(), split);
  std::vector<std::string> args(split, expanded.end());
  o.argv = container_argv(c.image->config, command, args);
  if (o.argv.empty()) {
    return Error(std::errc::invalid_argument,
                 "nothing to run: the image has no Entrypoint or Cmd, and the container no "
                 "command or args");
  }
  // A fresh writable layer at every start, as a new container gets.
  const std::string base = pod.dir + "/rootfs/" + c.spec.name;
  std::error_code ec;
  fs::remove_all(base, ec);
  for (const char* sub : {"/upper", "/work", "/root"}) {
    if (fs::create_directories(base + sub, ec); ec) {
      return Error(std::errc::io_error, "the container's root at " + base + ": " + ec.message());
    }
  }
  o.root = SpawnOptions::Root{.lower = c.image->layers,
                              .upper = base + "/upper",
                              .work = base + "/work",
                              .target = base + "/root"};
  o.hide.clear();  // nothing of this machine is in view
  return {};
}

}  // namespace tender::pod
