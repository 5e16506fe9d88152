// The start of a run and of each pod: the manifests' pods added, each pod's directories, network
// and init containers before its main containers run (PodRunner::Impl, runner_impl.hpp).
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>

#include "core/log.hpp"
#include "pod/runner_impl.hpp"
#include "pod/status.hpp"
#include "pod/volume_files.hpp"

namespace tender::pod {
namespace {
namespace fs = std::filesystem;
}  // namespace

// --- start order -------------------------------------------------------------------------

void PodRunner::Impl::add_pod(PodSpec spec) {
  auto pod = std::make_unique<Pod>();
  pod->spec = std::move(spec);
  pod->dir = opts.run_dir + "/pods/" + pod->spec.name;
  pod->created = std::chrono::system_clock::now();
  for (const auto& c : pod->spec.init_containers) {
    pod->init.push_back(std::make_unique<Container>(c, true, opts.restart_backoff));
  }
  for (const auto& c : pod->spec.containers) {
    pod->main.push_back(std::make_unique<Container>(c, false, opts.restart_backoff));
  }
  if (!first_pods_added) {
    pod->first = true;
    ++first_pods_unattached;
  }
  Pod& ref = *pod;
  pods.push_back(std::move(pod));
  unfinished.fetch_add(1);
  asio::co_spawn(ioc, run_pod(ref), [name = ref.spec.name](const std::exception_ptr& e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("pod supervision failed", {{"pod", name}, {"error", ex.what()}});
      }
    }
  });
}

asio::awaitable<void> PodRunner::Impl::add_pods() {
  for (const auto& spec : opts.manifests.pods) {
    if (draining) {
      break;
    }
    add_pod(spec);
    co_await asio::post(ioc, asio::use_awaitable);
  }
  for (const auto& d : opts.manifests.deployments) {
    // Scaled meanwhile: up, scale() added the new replicas; down, these are not wanted.
    for (int i = 0; i < d.replicas && i < deployments.at(d.name).replicas && !draining; ++i) {
      add_pod(make_replica(d, i));
      co_await asio::post(ioc, asio::use_awaitable);
    }
  }
  first_pods_added = true;
  for (const auto& set : opts.manifests.stateful_sets) {
    asio::co_spawn(ioc, run_stateful_set(set), asio::detached);
  }
  for (const auto& j : opts.manifests.jobs) {
    if (draining) {
      break;
    }
    JobState& job = jobs[j.name];
    job.spec = j;
    asio::co_spawn(ioc, run_job(job), asio::detached);
  }
}

asio::awaitable<void> PodRunner::Impl::run_stateful_set(const StatefulSetSpec& set) {
  // OrderedReady: each replica once the one before it is running and ready, as Kubernetes
  // starts them; Parallel: all at once.
  for (int i = 0; i < set.replicas && !draining; ++i) {
    PodSpec spec = make_stateful_pod(set, i);
    const std::string name = spec.name;
    add_pod(std::move(spec));
    if (set.parallel) {
      co_await asio::post(ioc, asio::use_awaitable);
      continue;
    }
    for (;;) {
      Pod* pod = find_pod(name);
      if (draining || pod == nullptr || pod->terminating || pod_ready(*pod)) {
        break;
      }
      co_await sleep_for(milliseconds(20));
    }
  }
}

asio::awaitable<void> PodRunner::Impl::await_first_pods(Pod& pod) {
  if (!pod.first) {
    co_return;
  }
  --first_pods_unattached;
  while ((!first_pods_added || first_pods_unattached > 0) && !pod.terminating) {
    co_await sleep_for(milliseconds(5));
  }
}

namespace {

// Its directories: logs/ and each emptyDir, which any user may write to, as in Kubernetes;
// with fsGroup it belongs to that group, and what is made in it too (set-group-ID). The files of
// its configMap, secret, downwardAPI and projected volumes are written there too; volumes/ is
// the runner's alone (0700), since Secrets are among them: containers see each volume through
// its mount, never through that directory.
void make_pod_dirs(Pod& pod, const NodeInfo& node) {
  std::error_code ec;
  fs::create_directories(pod.dir + "/logs", ec);
  const std::string volumes = pod.dir + "/volumes";
  fs::create_directories(volumes, ec);
  ::chmod(volumes.c_str(), 0700);
  for (const auto& v : pod.spec.volumes) {
    const std::string path = volumes + "/" + v.name;
    if (v.is_generated()) {
      auto written = write_volume_files(path, volume_files(pod.spec, v, pod.ip, node),
                                        pod.spec.security.fs_group);
      if (!written) {
        pod.volume_errors[v.name] = "volume " + v.name + ": " + written.error().message();
        log::error(
            "cannot write a volume's files",
            {{"pod", pod.spec.name}, {"volume", v.name}, {"error", written.error().message()}});
      }
      continue;
    }
    if (v.kind != Volume::Kind::kEmptyDir) {
      continue;
    }
    fs::create_directories(path, ec);
    mode_t mode = 0777;
    if (const auto& group = pod.spec.security.fs_group) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(*group)) == 0) {
        mode |= S_ISGID;
      }
    }
    ::chmod(path.c_str(), mode);
  }
}

}  // namespace

asio::awaitable<void> PodRunner::Impl::prepare_pod(Pod& pod) {
  // A pod replacing one of the same name (scaled down and up again) starts once the old one
  // has finished: they would share its directory, hostPorts and name.
  for (;;) {
    bool older = false;
    for (const auto& other : pods) {
      older =
          older || (other.get() != &pod && other->spec.name == pod.spec.name && !other->finished);
    }
    if (!older || pod.terminating) {
      break;
    }
    co_await sleep_for(milliseconds(20));
  }
  bool attached = false;
  {
    StartQueue::Turn turn = co_await starts.wait();
    if (!pod.terminating) {
      make_pod_dirs(pod, node);
      attached = attach_network(pod);
    }
  }
  co_await await_first_pods(pod);
  if (pod.terminating) {
    // Told to stop before it had its turn: nothing of it was started.
  } else if (!attached) {
    pod.phase = Pod::Phase::kFailed;
    begin_termination(pod);
  } else if (net && !net->partitions().pairs().empty()) {
    // Its cuts follow it to its new port before its containers start.
    Response r = co_await apply_partitions([](Partitions&) {});
    if (r.status != 200) {
      log::error("the pod's partitions could not be applied", {{"pod", pod.spec.name}});
    }
  }
  if (!pod.terminating) {
    log::info("pod starting", {{"pod", pod.spec.name}, {"ip", pod.ip}});
  }
  update_summary();
}

asio::awaitable<void> PodRunner::Impl::run_init_containers(Pod& pod) {
  // In order: plain ones run to completion, sidecars start and stay.
  for (auto& c : pod.init) {
    if (pod.terminating) {
      break;
    }
    if (c->spec.is_sidecar()) {
      asio::co_spawn(ioc, container_loop(pod, *c), asio::detached);
      while (!c->started && !pod.terminating) {
        co_await sleep_for(milliseconds(5));
      }
      continue;
    }
    for (;;) {
      ExitStatus st = co_await run_to_exit(pod, *c);
      if (st.success() || pod.terminating) {
        break;
      }
      if (pod.spec.restart_policy == RestartPolicy::kNever) {
        pod.phase = Pod::Phase::kFailed;
        log::warn("init container failed; pod failed",
                  {{"pod", pod.spec.name}, {"container", c->spec.name}, {"exit", st.describe()}});
        begin_termination(pod);
        break;
      }
      auto delay = std::chrono::duration_cast<milliseconds>(c->backoff.next());
      c->reason = "CrashLoopBackOff";
      co_await sleep_for(delay);
      ++c->restarts;
      restarts->with({pod.spec.name, c->spec.name}).inc();
    }
  }
}

asio::awaitable<void> PodRunner::Impl::run_pod(Pod& pod) {
  co_await prepare_pod(pod);
  co_await run_init_containers(pod);
  if (!pod.terminating) {
    pod.phase = Pod::Phase::kRunning;
    for (auto& c : pod.main) {
      asio::co_spawn(ioc, container_loop(pod, *c), asio::detached);
    }
    update_summary();
    // Until every main container is done for good, or the pod is told to stop: woken by
    // either, not polling (a thousand pods polling every 20 ms keep a core busy).
    asio::steady_timer changed(ioc);
    pod.wake = [&changed] { changed.cancel(); };
    for (;;) {
      bool all_done = true;
      for (auto& c : pod.main) {
        all_done = all_done && c->done;
      }
      if (all_done || pod.terminating) {
        break;
      }
      changed.expires_at(asio::steady_timer::time_point::max());
      co_await changed.async_wait(kTuple);
    }
    pod.wake = nullptr;
    if (!pod.terminating) {
      bool failed = false;
      for (auto& c : pod.main) {
        failed = failed || !c->last_exit || !c->last_exit->success();
      }
      pod.phase = failed ? Pod::Phase::kFailed : Pod::Phase::kSucceeded;
      log::info("pod completed", {{"pod", pod.spec.name}, {"phase", phase_name(pod.phase)}});
    }
  }
  co_await terminate_pod(pod);
}

}  // namespace tender::pod
