#include "pod/image_store.hpp"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <type_traits>

#include "core/command.hpp"
#include "core/log.hpp"
#include "pod/image_layout.hpp"
#include "pod/image_store_internal.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {

namespace asio = boost::asio;
namespace isd = image_store_detail;

struct ImageStore::Impl {
  Impl(std::string d, ImageStoreOptions o)
      : dir(std::move(d)), options(o), pool(std::max(1u, o.threads)) {}
  std::string dir;
  ImageStoreOptions options;
  asio::thread_pool pool;
};

namespace {

// The name skopeo gives an image while it copies it in; renamed when the store adopts it.
constexpr std::string_view kIncomingPrefix = "tender-incoming-";
// An image index may point at another; real ones nest at most once.
constexpr int kMaxIndexDepth = 2;

// Runs `work` on the store's pool and resumes the awaiting coroutine on its own executor with
// what `work` returned. Not a coroutine: `work` travels in the initiation, not in a frame.
//
// g++ 12 destroys some temporaries of a full-expression holding a co_await twice (braced lists,
// conditionals, lambdas with captures): the coroutines here name their jobs and commands first
// and pass them as xvalues, and build braced lists and conditionals in plain functions.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> on_store_pool(asio::thread_pool& pool, F&& work) {
  using R = std::invoke_result_t<F&>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      [&pool](auto handler, F fn) {
        auto guard = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [handler = std::move(handler), fn = std::move(fn),
                          guard = std::move(guard)]() mutable {
          R result = fn();
          auto ex = asio::get_associated_executor(handler);
          asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable, std::forward<F>(work));
}

// skopeo's transports that name an image in a file or a registry; not dir:, docker-daemon:,
// containers-storage:, sif:, ... (another engine's storage, or a directory of loose blobs).
Result<> check_transport(std::string_view source) {
  if (source.size() > 4096) {
    return invalid_argument("an image source longer than 4096 bytes");
  }
  for (std::string_view t : {"oci:", "oci-archive:", "docker-archive:", "docker://"}) {
    if (source.starts_with(t) && source.size() > t.size()) {
      return {};
    }
  }
  std::string_view transport = source.substr(0, std::min(source.find(':'), std::size_t{40}));
  return invalid_argument("image source " + quote(source.substr(0, 200)) + ": transport " +
                          quote(transport) +
                          " is not supported (oci:, oci-archive:, docker-archive: and "
                          "docker:// are)");
}

Result<> make_store_dirs(const std::string& dir) {
  if (dir.find(':') != std::string::npos) {  // skopeo's oci:DIR:NAME cannot hold it
    return invalid_argument("image store directory " + quote(dir) + " has a ':'");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error(ec, "make " + dir + ": " + ec.message());
  }
  for (const auto& [path, mode] : {std::pair{dir + "/oci", 0755}, {dir + "/layers", 0700}}) {
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
      return Error::from_errno(errno, "make " + path);
    }
  }
  return {};
}

// What an image is made of, read from its blobs, each checked against its digest.
struct ResolvedImage {
  StoredImage record;
  ImageManifest manifest;
  ImageConfig config;
};

Result<ResolvedImage> resolve_image(const std::string& dir, Descriptor top) {
  ResolvedImage out;
  out.record.digest = top.digest;
  Descriptor at = std::move(top);
  for (int depth = 0;; ++depth) {
    auto blob = isd::read_blob(dir, at.digest, kMaxImageJsonBytes);
    if (!blob) {
      return blob.error();
    }
    out.record.blobs.push_back(at.digest);
    out.record.size += blob->size();
    std::string type = at.media_type;
    if (type.empty()) {
      auto in_doc = document_media_type(*blob);
      if (!in_doc) {
        return in_doc.error();
      }
      type = *in_doc;
    }
    if (manifest_kind(type) == ManifestKind::kIndex) {
      auto index = depth < kMaxIndexDepth ? parse_image_index(*blob)
                                          : invalid_argument("image indexes nested too deep");
      auto chosen =
          index ? pick_platform(*index, machine_architecture()) : Result<Descriptor>(index.error());
      if (!chosen) {
        return chosen.error();
      }
      at = std::move(*chosen);
      continue;
    }
    if (!type.empty() && manifest_kind(type) != ManifestKind::kManifest) {
      return invalid_argument("manifest media type " + quote(type) + " is not supported");
    }
    auto manifest = parse_image_manifest(*blob);
    if (!manifest) {
      return manifest.error();
    }
    out.manifest = std::move(*manifest);
    break;
  }
  for (const Descriptor& layer : out.manifest.layers) {
    if (auto c = layer_compression(layer.media_type); !c) {
      return c.error();
    }
    out.record.blobs.push_back(layer.digest);
    out.record.size += layer.size;
  }
  auto config_blob = isd::read_blob(dir, out.manifest.config.digest, kMaxImageConfigBytes);
  auto config =
      config_blob ? parse_image_config(*config_blob) : Result<ImageConfig>(config_blob.error());
  if (!config) {
    return config.error();
  }
  if (config->diff_ids.size() != out.manifest.layers.size()) {
    return invalid_argument("the image's config lists " + std::to_string(config->diff_ids.size()) +
                            " diff_ids for " + std::to_string(out.manifest.layers.size()) +
                            " layers");
  }
  out.record.blobs.push_back(out.manifest.config.digest);
  out.record.size += config_blob->size();
  out.record.diff_ids = config->diff_ids;
  out.record.architecture = config->architecture;
  out.config = std::move(*config);
  return out;
}

// Rewrites oci/index.json (whole, by rename) without the image named `drop` and without
// images skopeo was copying in when it was stopped; the one named `adopt` (if not empty)
// stays, renamed `drop`. Returns the adopted descriptor (or an empty one).
Result<Descriptor> edit_oci_index(const std::string& dir, std::string_view drop,
                                  std::string_view adopt) {
  std::string path = dir + "/oci/index.json";
  auto text = isd::read_file_bounded(path, kMaxImageJsonBytes, "the layout's index");
  if (!text) {
    bool none = text.error().code() == std::errc::no_such_file_or_directory && adopt.empty();
    return none ? Result<Descriptor>(Descriptor{}) : Result<Descriptor>(text.error());
  }
  auto descriptors = parse_image_index(*text);  // every digest checked
  if (!descriptors) {
    return descriptors.error().with_context(path);
  }
  boost::json::value doc = boost::json::parse(*text);
  boost::json::array kept;
  Descriptor adopted;
  auto& manifests = doc.get_object()["manifests"].get_array();
  for (std::size_t i = 0; i < manifests.size(); ++i) {
    const std::string& ref = (*descriptors)[i].ref_name;
    if (!adopt.empty() && ref == adopt) {
      adopted = (*descriptors)[i];
      manifests[i].get_object()["annotations"].as_object()[kRefNameAnnotation] = drop;
      kept.push_back(std::move(manifests[i]));
    } else if ((drop.empty() || ref != drop) && !ref.starts_with(kIncomingPrefix)) {
      kept.push_back(std::move(manifests[i]));
    }
  }
  if (!adopt.empty() && adopted.digest.empty()) {
    return Error(std::errc::no_such_file_or_directory,
                 "skopeo wrote no image " + quote(adopt) + " into " + path);
  }
  doc.get_object()["manifests"] = std::move(kept);
  if (auto r = isd::replace_file(path, boost::json::serialize(doc) + "\n"); !r) {
    return r.error();
  }
  return adopted;
}

// With the store lock held, after skopeo copied the image in as `incoming`: reads it whole,
// and names it `name` in images.json and then in oci/index.json (so that images.json always
// names every image oci/index.json does); refused, it is dropped. Either way, whatever no
// image uses any more goes.
Result<StoredImage> adopt_image(const std::string& dir, const std::string& incoming,
                                const std::string& name) {
  auto records = isd::read_records(dir);
  if (!records) {
    return records.error();
  }
  Result<StoredImage> outcome = [&]() -> Result<StoredImage> {
    auto text =
        isd::read_file_bounded(dir + "/oci/index.json", kMaxImageJsonBytes, "the layout's index");
    auto index = text ? parse_image_index(*text) : Result<std::vector<Descriptor>>(text.error());
    if (!index) {
      return index.error();
    }
    auto it = std::find_if(index->begin(), index->end(),
                           [&](const Descriptor& d) { return d.ref_name == incoming; });
    if (it == index->end()) {
      return Error(std::errc::no_such_file_or_directory, "skopeo wrote no image");
    }
    auto resolved = resolve_image(dir, *it);
    if (!resolved) {
      return resolved.error();
    }
    resolved->record.name = name;
    std::erase_if(*records, [&](const StoredImage& r) { return r.name == name; });
    records->push_back(resolved->record);
    std::sort(records->begin(), records->end(),
              [](const StoredImage& a, const StoredImage& b) { return a.name < b.name; });
    if (auto w = isd::write_records(dir, *records); !w) {
      return w.error();
    }
    return resolved->record;
  }();
  auto edited =
      edit_oci_index(dir, outcome ? name : std::string(), outcome ? incoming : std::string());
  if (outcome && !edited) {
    return edited.error();
  }
  if (auto gc = isd::collect_garbage(dir, *records); !gc && outcome) {
    return gc.error();
  }
  return outcome;
}

const StoredImage* match_image(const std::vector<StoredImage>& all, const ImageRef& ref) {
  std::string canonical = ref.canonical();
  for (const StoredImage& r : all) {
    if (r.name == canonical) {
      return &r;
    }
  }
  if (ref.digest.empty()) {
    return nullptr;
  }
  for (const StoredImage& r : all) {
    auto stored = parse_image_ref(r.name);
    if (stored && stored->registry == ref.registry && stored->repository == ref.repository &&
        r.digest == ref.digest) {
      return &r;
    }
  }
  return nullptr;
}

Error not_stored(const ImageRef& ref) {
  return Error(std::errc::no_such_file_or_directory,
               "image " + ref.canonical() + " is not in the image store");
}

std::string stderr_summary(const std::string& text) {
  std::string s = text.substr(0, 2000);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

CommandOptions skopeo_copy_options(const std::string& source, const std::string& dir,
                                   const std::string& incoming, const ImageStoreOptions& store) {
  CommandOptions copy;
  copy.spawn.argv = {"skopeo",  "copy", "--insecure-policy",
                     "--quiet", source, "oci:" + dir + "/oci:" + incoming};
  copy.timeout = store.copy_timeout;
  copy.kill_grace = std::chrono::seconds(5);
  copy.keep_stderr_tail = true;
  return copy;
}

CommandOptions tar_options(const isd::StagedLayer& staged, const ImageStoreOptions& store) {
  CommandOptions tar;
  tar.spawn.argv = isd::tar_extract_argv(staged);
  tar.timeout = store.unpack_timeout;
  tar.keep_stderr_tail = true;
  return tar;
}

// Why a command that did not succeed failed: it never ran, or how it ended and its stderr.
Error command_failure(const std::string& what, const Result<CommandOutcome>& run) {
  if (!run) {
    return run.error().with_context(what);
  }
  return Error(what + " " + run->describe() + ": " + stderr_summary(run->stderr_text));
}

// After a failed skopeo copy (with the store lock held): whatever it wrote goes.
Result<> drop_failed_copy(const std::string& dir) {
  auto records = isd::read_records(dir);
  if (!records) {
    return records.error();
  }
  if (auto edited = edit_oci_index(dir, "", ""); !edited) {
    return edited.error();
  }
  auto gc = isd::collect_garbage(dir, *records);
  if (!gc) {
    log::warn("image store: cleaning up after a failed copy", {{"error", gc.error().message()}});
  }
  return {};
}

isd::LayerSource layer_source(const ResolvedImage& image, std::size_t i) {
  const auto& layers = image.manifest.layers;
  return isd::LayerSource{i, layers.size(), layers[i].digest, layers[i].media_type,
                          image.config.diff_ids[i]};
}

// With the store lock held: untags the image, then collects what nobody uses.
Result<> remove_image(const std::string& dir, const ImageRef& name) {
  auto records = isd::read_records(dir);
  if (!records) {
    return records.error();
  }
  const StoredImage* found = match_image(*records, name);
  if (found == nullptr) {
    return not_stored(name);
  }
  std::string stored_name = found->name;
  if (auto edited = edit_oci_index(dir, stored_name, ""); !edited) {
    return edited.error();
  }
  std::erase_if(*records, [&](const StoredImage& r) { return r.name == stored_name; });
  if (auto w = isd::write_records(dir, *records); !w) {
    return w;
  }
  auto gc = isd::collect_garbage(dir, *records);
  return gc ? Result<>() : Result<>(gc.error());
}

// Takes the store lock without tying up a pool thread: another process may hold it for a whole
// registry pull, and a pool thread waiting in flock would hold up ~ImageStore as long. Polls
// without waiting; cancelling the awaiting coroutine stops it.
asio::awaitable<Result<Fd>> lock_store(const std::string& dir) {
  asio::steady_timer retry(co_await asio::this_coro::executor);
  std::string path = dir + "/store.lock";
  for (;;) {
    auto lock = isd::take_flock(path, LOCK_EX | LOCK_NB);
    if (lock || lock.error().code() != std::errc::operation_would_block) {
      co_return lock;
    }
    retry.expires_after(std::chrono::milliseconds(50));
    co_await retry.async_wait(asio::use_awaitable);
  }
}

// Unpacks one layer into the cache (its lock held shared by the caller): staged and checked on
// the pool, extracted by tar, whiteouts and the rename on the pool again.
// Its references must outlive it: the caller awaits it at once.
asio::awaitable<Result<>> unpack_layer(asio::thread_pool& pool, const std::string& dir,
                                       const ImageStoreOptions& options,
                                       const isd::LayerSource& layer) {
  auto stage = [&dir, &layer, max = options.max_layer_bytes] {
    return isd::stage_layer(dir, layer, max);
  };
  auto staged = co_await on_store_pool(pool, std::move(stage));
  if (!staged) {
    co_return staged.error();
  }
  CommandOptions tar = tar_options(*staged, options);
  auto run = co_await run_command(std::move(tar));
  if (!run || !run->success()) {
    isd::drop_staging(*staged);
    co_return command_failure("tar", run).with_context(isd::layer_label(layer));
  }
  auto finish = [&dir, &layer, &staged] { return isd::finish_layer(dir, layer, *staged); };
  co_return co_await on_store_pool(pool, std::move(finish));
}

}  // namespace

ImageStore::ImageStore(std::string dir, ImageStoreOptions options)
    : impl_(std::make_unique<Impl>(std::move(dir), options)) {}

ImageStore::~ImageStore() { impl_->pool.join(); }

const std::string& ImageStore::dir() const { return impl_->dir; }

asio::awaitable<Result<StoredImage>> ImageStore::copy_in(std::string source, ImageRef name) {
  static std::atomic<unsigned> copies{0};
  if (auto t = check_transport(source); !t) {
    co_return t.error();
  }
  const std::string& dir = impl_->dir;
  if (auto made = make_store_dirs(dir); !made) {
    co_return made.error();
  }
  auto lock = co_await lock_store(dir);
  if (!lock) {
    co_return lock.error();
  }
  std::string incoming = std::string(kIncomingPrefix) + std::to_string(::getpid()) + "-" +
                         std::to_string(copies.fetch_add(1));
  CommandOptions copy = skopeo_copy_options(source, dir, incoming, impl_->options);
  auto run = co_await run_command(std::move(copy));
  std::string canonical = name.canonical();
  if (!run || !run->success()) {
    // Whatever skopeo wrote before it failed goes (it may have named the incoming image).
    auto drop = [&dir] { return drop_failed_copy(dir); };
    co_await on_store_pool(impl_->pool, std::move(drop));
    co_return command_failure("skopeo copy " + source, run);
  }
  auto adopt = [&dir, &incoming, &canonical] { return adopt_image(dir, incoming, canonical); };
  auto adopted = co_await on_store_pool(impl_->pool, std::move(adopt));
  if (!adopted) {
    co_return adopted.error().with_context("image " + canonical + " from " + source);
  }
  co_return adopted;
}

Result<std::optional<StoredImage>> ImageStore::find(const ImageRef& name) const {
  auto records = isd::read_records(impl_->dir);
  if (!records) {
    return records.error();
  }
  const StoredImage* found = match_image(*records, name);
  return found == nullptr ? std::optional<StoredImage>() : std::optional<StoredImage>(*found);
}

Result<std::vector<StoredImage>> ImageStore::list() const { return isd::read_records(impl_->dir); }

asio::awaitable<Result<PreparedImage>> ImageStore::prepare(ImageRef name) {
  const std::string& dir = impl_->dir;
  auto found = find(name);
  if (!found) {
    co_return found.error();
  }
  if (!*found) {
    co_return not_stored(name);
  }
  Descriptor top;
  top.digest = (*found)->digest;
  auto resolve = [&dir, &top] { return resolve_image(dir, top); };
  auto resolved = co_await on_store_pool(impl_->pool, std::move(resolve));
  if (!resolved) {
    co_return resolved.error().with_context("image " + name.canonical());
  }
  PreparedImage out;
  out.digest = top.digest;
  for (std::size_t i = 0; i < resolved->manifest.layers.size(); ++i) {
    isd::LayerSource layer = layer_source(*resolved, i);
    auto hex = digest_hex(layer.diff_id);  // checked by parse_image_config
    auto lock_layer = [&dir, &hex] {
      return isd::take_flock(isd::layer_lock_path(dir, *hex), LOCK_SH);
    };
    auto lock = co_await on_store_pool(impl_->pool, std::move(lock_layer));
    if (!lock) {
      co_return lock.error();
    }
    std::string unpacked = isd::layer_dir(dir, layer);
    struct stat st {};
    if (::lstat(unpacked.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      auto unpacked_now = co_await unpack_layer(impl_->pool, dir, impl_->options, layer);
      if (!unpacked_now) {
        co_return unpacked_now.error().with_context("image " + name.canonical());
      }
    }
    out.locks.push_back(std::move(*lock));
    out.layers.push_back(std::move(unpacked));
  }
  std::reverse(out.layers.begin(), out.layers.end());
  out.config = std::move(resolved->config);
  co_return out;
}

asio::awaitable<Result<>> ImageStore::remove(ImageRef name) {
  const std::string& dir = impl_->dir;
  struct stat st {};
  if (::stat((dir + "/store.lock").c_str(), &st) != 0) {
    co_return not_stored(name);
  }
  auto lock = co_await lock_store(dir);
  if (!lock) {
    co_return lock.error();
  }
  auto remove_it = [&dir, &name] { return remove_image(dir, name); };
  co_return co_await on_store_pool(impl_->pool, std::move(remove_it));
}

}  // namespace tender::pod
