// `tender pod images list|pull|import|rm`: what the image store holds, and changing it from
// the command line while runners use it.
#include "pod/images_command.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cli.hpp"
#include "pod/image_store.hpp"

namespace tender::pod {
namespace {

namespace asio = boost::asio;

constexpr const char* kDefaultStateDir = "/var/lib/tender";

struct ImagesFlags {
  std::string state_dir = kDefaultStateDir;
  std::string name;
  std::string source;
  std::vector<std::string> refs;
};

// Runs one of the store's coroutines to its end on a loop of its own.
template <typename T>
T run_store(asio::awaitable<T> work) {
  asio::io_context ioc;
  std::optional<T> out;
  asio::co_spawn(ioc, std::move(work), [&out](std::exception_ptr e, T r) {
    if (e) {
      std::rethrow_exception(e);
    }
    out.emplace(std::move(r));
  });
  ioc.run();
  return std::move(*out);
}

ImageRef flag_image_ref(const char* what, const std::string& text) {
  auto ref = parse_image_ref(text);
  if (!ref) {
    throw UsageError(std::string(what) + ": " + ref.error().message());
  }
  return *ref;
}

// The store's directory, absolute: the runners that use it name its layers in mounts.
std::string store_dir(const ImagesFlags& f) {
  return (std::filesystem::absolute(f.state_dir) / "images").lexically_normal().string();
}

int fail(const char* verb, const std::string& message) {
  std::fprintf(stderr, "tender pod images %s: %s\n", verb, message.c_str());
  return 1;
}

// "1.0 MiB", "312 KiB", "980 B": what a person reads at a glance.
std::string human_size(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 || value >= 100 ? "%.0f %s" : "%.1f %s", value,
                kUnits[unit]);
  return buf;
}

int list(const ImagesFlags& f) {
  ImageStore store(store_dir(f));
  auto images = store.list();
  if (!images) {
    return fail("list", images.error().message());
  }
  std::printf("%-60s %-19s %9s\n", "IMAGE", "DIGEST", "SIZE");
  for (const StoredImage& i : *images) {
    std::string digest = i.digest.substr(0, 19);  // "sha256:" and 12 digits
    std::printf("%-60s %-19s %9s\n", i.name.c_str(), digest.c_str(), human_size(i.size).c_str());
  }
  return 0;
}

int copy(const char* verb, const ImagesFlags& f, const std::string& source, const ImageRef& name) {
  ImageStore store(store_dir(f));
  auto stored = run_store(store.copy_in(source, name));
  if (!stored) {
    return fail(verb, stored.error().message());
  }
  std::printf("%s %s\n", stored->name.c_str(), stored->digest.c_str());
  return 0;
}

// The name an imported image gets without --name: the reference a docker:// source or an
// oci: layout names.
std::optional<ImageRef> name_in_source(const std::string& source) {
  std::string_view s = source;
  std::string_view ref;
  if (s.starts_with("docker://")) {
    ref = s.substr(9);
  } else if (s.starts_with("oci:") || s.starts_with("oci-archive:") ||
             s.starts_with("docker-archive:")) {
    std::string_view rest = s.substr(s.find(':') + 1);
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    ref = rest.substr(colon + 1);
  }
  auto parsed = parse_image_ref(ref);
  return parsed ? std::optional(*parsed) : std::nullopt;
}

int import(const ImagesFlags& f) {
  constexpr std::string_view kTransports[] = {
      "oci:", "oci-archive:", "docker-archive:", "docker://"};
  if (std::none_of(std::begin(kTransports), std::end(kTransports),
                   [&](std::string_view t) { return f.source.starts_with(t); })) {
    throw UsageError(
        "SOURCE: expected oci:DIR[:REF], oci-archive:FILE[:REF], "
        "docker-archive:FILE[:REF] or docker://REF, not \"" +
        f.source + "\"");
  }
  std::optional<ImageRef> name;
  if (!f.name.empty()) {
    name = flag_image_ref("--name", f.name);
  } else {
    name = name_in_source(f.source);
  }
  if (!name) {
    throw UsageError("--name: required when the source names no image (" + f.source + ")");
  }
  return copy("import", f, f.source, *name);
}

int remove(const ImagesFlags& f) {
  ImageStore store(store_dir(f));
  int status = 0;
  for (const std::string& text : f.refs) {
    ImageRef ref = flag_image_ref("IMAGE", text);
    auto removed = run_store(store.remove(ref));
    if (!removed) {
      status = fail("rm", ref.canonical() + ": " + removed.error().message());
    } else {
      std::printf("%s\n", ref.canonical().c_str());
    }
  }
  return status;
}

}  // namespace

void add_images_command(CLI::App& pod_command, int& exit_code) {
  auto f = std::make_shared<ImagesFlags>();
  auto* cmd = pod_command.add_subcommand(
      "images", "List, pull, import and remove the images pods run (the image store)");
  auto state_dir = [&f](CLI::App* c) {
    c->add_option("--state-dir", f->state_dir,
                  "Where the store is: DIR/images (default /var/lib/tender)");
  };
  state_dir(cmd);
  auto* list_cmd = cmd->add_subcommand("list", "List the stored images (the default)");
  state_dir(list_cmd);
  list_cmd->callback([f, &exit_code] { exit_code = list(*f); });

  auto* pull_cmd = cmd->add_subcommand("pull", "Copy IMAGE from its registry into the store");
  state_dir(pull_cmd);
  pull_cmd->add_option("image", f->name, "The image, as a manifest names it (redis:7)")->required();
  pull_cmd->callback([f, &exit_code] {
    ImageRef ref = flag_image_ref("IMAGE", f->name);
    exit_code = copy("pull", *f, "docker://" + ref.canonical(), ref);
  });

  auto* import_cmd =
      cmd->add_subcommand("import",
                          "Copy an image from SOURCE (oci:DIR[:REF], oci-archive:FILE[:REF], "
                          "docker-archive:FILE[:REF], docker://REF) into the store");
  state_dir(import_cmd);
  import_cmd->add_option("source", f->source, "Where the image is, as skopeo names it")->required();
  import_cmd->add_option("--name", f->name,
                         "What pods call it, e.g. localhost/app:1 (default: the REF of SOURCE)");
  import_cmd->callback([f, &exit_code] { exit_code = import(*f); });

  auto* rm_cmd = cmd->add_subcommand(
      "rm", "Remove IMAGE... and the layers no other image uses (not those in use)");
  state_dir(rm_cmd);
  rm_cmd->add_option("images", f->refs, "Images to remove")->required();
  rm_cmd->callback([f, &exit_code] { exit_code = remove(*f); });

  cmd->callback([cmd, f, &exit_code] {
    if (cmd->get_subcommands().empty()) {
      exit_code = list(*f);
    }
  });
}

}  // namespace tender::pod
