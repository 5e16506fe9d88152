#include "pod/runner.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <list>
#include <mutex>
#include <thread>

#include "core/config.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/netns.hpp"
#include "core/process.hpp"
#include "core/prom_text.hpp"
#include "pod/log_file.hpp"
#include "pod/runner_impl.hpp"
#include "pod/status.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Without root there is no mount namespace for volumes, and nothing of securityContext can be
// applied: the first is refused, the second said once.
void refuse_what_needs_root(const Manifests& manifests, bool all_images) {
  const ContainerSpec* secured = nullptr;
  const PodSpec* secured_pod = nullptr;
  auto check = [&](const PodSpec& p, const std::string& name) {
    for (const auto* list : {&p.init_containers, &p.containers}) {
      for (const auto& c : *list) {
        if (c.command.empty() || all_images) {
          throw std::runtime_error(p.file + ":" + std::to_string(c.line) + ": pod " + name +
                                   " container " + c.name +
                                   " runs its image, which needs root (its root filesystem is "
                                   "an overlay); run tender pod as root" +
                                   (all_images ? "" : " or give it a command"));
        }
        if (!c.volume_mounts.empty()) {
          throw std::runtime_error(
              p.file + ":" + std::to_string(c.line) + ": pod " + name + " container " + c.name +
              " mounts volumes, which needs root (a mount namespace per container); run "
              "tender pod as root or remove the volumeMounts");
        }
        if (secured == nullptr && !c.security.is_default()) {
          secured = &c;
          secured_pod = &p;
        }
      }
    }
  };
  for (const auto& p : manifests.pods) {
    check(p, p.name);
  }
  for (const auto& d : manifests.deployments) {
    check(d.template_, d.name);
  }
  for (const auto& j : manifests.jobs) {
    check(j.template_, j.name);
  }
  for (const auto& set : manifests.stateful_sets) {
    check(set.template_, set.name);
  }
  log::warn(
      "not running as root: containers share this machine's mounts and PID space, and "
      "processes a container starts can outlive a runner killed with SIGKILL");
  if (secured != nullptr) {
    log::warn(
        "not running as root: securityContext is not applied (users, capabilities, "
        "no_new_privs, read-only root); containers run as this user",
        {{"file", secured_pod->file}, {"line", secured->line}, {"container", secured->name}});
  }
}

}  // namespace

// --- the pod network -------------------------------------------------------------------------

void PodRunner::Impl::setup_network() {
  if (opts.network == RunnerOptions::Network::kHost) {
    return;
  }
  auto cidr = Cidr::parse(opts.pod_cidr);
  if (!cidr) {
    throw std::runtime_error("bad pod network " + opts.pod_cidr);
  }
  if (!privileged) {
    log::warn(
        "not running as root: no pod network (each pod would need a network namespace); pods "
        "share this machine's network as with --network host, and hostPort is ignored");
    return;
  }
  auto made = PodNetwork::create(*cidr, opts.run_dir + "/hosts");
  if (!made) {
    log::warn(
        "cannot create the pod network; pods share this machine's network as with "
        "--network host",
        {{"error", made.error().message()}});
    return;
  }
  net = std::move(*made);
  log::info("pod network", {{"cidr", cidr->str()}, {"gateway", net->gateway()}});
}

bool PodRunner::Impl::attach_network(Pod& pod) {
  if (!net) {
    return true;
  }
  // A Deployment's replica is also known by the names a StatefulSet's pod has behind a headless
  // Service of the same name on Kubernetes, so that manifests addressing replicas that way
  // (`redis-0.redis`) run unchanged there as StatefulSets.
  // A StatefulSet's pod has them behind its serviceName, as on Kubernetes.
  std::vector<std::string> aliases;
  const std::string& domain =
      !pod.spec.deployment.empty() ? pod.spec.deployment : pod.spec.subdomain;
  if (!domain.empty()) {
    std::string sub = pod.spec.name + "." + domain;
    aliases = {sub, sub + "." + pod.spec.namespace_ + ".svc.cluster.local"};
  }
  auto link = net->attach(pod.spec.name, std::move(aliases));
  if (!link) {
    pod.network_error = "cannot attach the pod to the network: " + link.error().message();
    log::error("pod failed", {{"pod", pod.spec.name}, {"error", pod.network_error}});
    return false;
  }
  pod.netns = std::move(link->netns);
  pod.link = link->link;
  pod.ip = link->ip;
  boost::system::error_code ec;
  auto pod_addr = asio::ip::make_address(pod.ip, ec);
  std::vector<const ContainerSpec*> all;
  for (const auto* list : {&pod.spec.init_containers, &pod.spec.containers}) {
    for (const auto& c : *list) {
      all.push_back(&c);
    }
  }
  for (const auto* c : all) {
    for (const auto& port : c->ports) {
      if (port.host_port == 0 || port.protocol != "TCP") {
        continue;
      }
      auto fwd = TcpForward::start(ioc.get_executor(),
                                   {asio::ip::make_address("127.0.0.1"), port.host_port},
                                   net->host_netns(), {pod_addr, port.container_port}, -1);
      if (!fwd) {
        log::error("cannot forward a hostPort",
                   {{"pod", pod.spec.name},
                    {"hostPort", static_cast<std::int64_t>(port.host_port)},
                    {"error", fwd.error().message()}});
        continue;
      }
      pod.forwards.push_back(std::move(*fwd));
    }
  }
  return true;
}

void PodRunner::Impl::detach_network(Pod& pod) {
  for (auto& f : pod.forwards) {
    f->stop();
  }
  pod.forwards.clear();
  if (net && !pod.link.empty()) {
    net->detach(pod.link);
    pod.link.clear();
  }
  pod.netns.reset();
}

void PodRunner::Impl::forward_api() {
  auto admin = rt->address("admin");
  if (!admin) {
    return;
  }
  boost::system::error_code ec;
  auto target = asio::ip::make_address(admin->host, ec);
  if (ec || target.is_unspecified()) {
    target = asio::ip::make_address("127.0.0.1");
  }
  auto fwd =
      TcpForward::start(ioc.get_executor(), {asio::ip::make_address(net->gateway()), admin->port},
                        -1, {target, admin->port}, net->host_netns());
  if (!fwd) {
    log::warn("pods cannot reach the runner's API", {{"error", fwd.error().message()}});
    return;
  }
  api_forward = std::move(*fwd);
  pod_api_url = "http://" + net->gateway() + ":" + std::to_string(admin->port);
}

void PodRunner::Impl::begin_termination(Pod& pod) {
  if (pod.terminating) {
    return;
  }
  pod.terminating = true;
  if (pod.wake) {
    pod.wake();
  }
  pod.deadline = SteadyClock::now() + pod.spec.termination_grace;
  update_summary();  // a terminating pod leaves its Services at once
  log::info("pod terminating",
            {{"pod", pod.spec.name}, {"grace", format_duration(pod.spec.termination_grace)}});
}

asio::awaitable<void> PodRunner::Impl::terminate_pod(Pod& pod) {
  begin_termination(pod);
  // Main containers stop together; then sidecars, last started first.
  int pending = 0;
  for (auto& c : pod.main) {
    ++pending;
    asio::co_spawn(ioc, terminate_container(pod, *c, true),
                   [&pending](const std::exception_ptr&) { --pending; });
  }
  while (pending > 0) {
    co_await sleep_for(milliseconds(5));
  }
  for (auto it = pod.init.rbegin(); it != pod.init.rend(); ++it) {
    co_await terminate_container(pod, **it, true);
  }
  // Whatever the containers left behind in their process groups goes too.
  for (auto* list : {&pod.init, &pod.main}) {
    for (auto& c : *list) {
      if (c->pgid > 0) {
        ::kill(-c->pgid, SIGKILL);
      }
    }
  }
  if (pod.phase == Pod::Phase::kPending || pod.phase == Pod::Phase::kRunning) {
    pod.phase = Pod::Phase::kSucceeded;
    for (auto& c : pod.main) {
      if (c->last_exit && !c->last_exit->success()) {
        pod.phase = Pod::Phase::kFailed;
      }
    }
  }
  std::error_code ec;
  fs::remove_all(pod.dir + "/volumes", ec);
  // Its writable layers, and its hold on the images' layers.
  fs::remove_all(pod.dir + "/rootfs", ec);
  for (auto* list : {&pod.init, &pod.main}) {
    for (auto& c : *list) {
      c->image.reset();
    }
  }
  detach_network(pod);
  pod.finished = true;
  pod.deleted = pod.deleted || pod.deleted_when_finished;
  unfinished.fetch_sub(1);
  log::info("pod terminated", {{"pod", pod.spec.name}, {"phase", phase_name(pod.phase)}});
  update_summary();
}

// --- metrics of the containers ---------------------------------------------------------------

asio::awaitable<void> PodRunner::Impl::scrape_loop() {
  for (;;) {
    co_await sleep_for(opts.scrape_interval);
    std::vector<ExternalFamily> all;
    // Published in the same snapshot as the samples, so up == 1 always comes with its series.
    ExternalFamily up{"tender_pod_scrape_up",
                      "gauge",
                      "1 if the last scrape of a container's metrics succeeded, else 0.",
                      {}};
    for (auto& pod : pods) {  // a std::list: pods added meanwhile do not disturb the walk
      if (pod->deleted || pod->finished) {
        continue;
      }
      const auto& ann = pod->spec.annotations;
      auto port_it = ann.find("prometheus.io/port");
      auto scrape_it = ann.find("prometheus.io/scrape");
      if (port_it == ann.end() || (scrape_it != ann.end() && scrape_it->second == "false")) {
        continue;
      }
      int port = 0;
      auto [p, ec] = std::from_chars(port_it->second.data(),
                                     port_it->second.data() + port_it->second.size(), port);
      if (ec != std::errc() || port <= 0 || port > 65535) {
        continue;
      }
      // The container that declares the port; the first main container otherwise.
      std::string cname = pod->spec.containers.front().name;
      for (const auto& c : pod->spec.containers) {
        for (const auto& cp : c.ports) {
          if (cp.container_port == port) {
            cname = c.name;
          }
        }
      }
      auto path_it = ann.find("prometheus.io/path");
      ClientRequest req;
      req.host = pod->ip;
      req.port = static_cast<std::uint16_t>(port);
      req.target = path_it != ann.end() ? path_it->second : "/metrics";
      req.headers.add("Accept", "text/plain;version=0.0.4");
      req.timeout = std::clamp(opts.scrape_interval, milliseconds(1'000), milliseconds(10'000));
      std::string pod_name = pod->spec.name;
      auto r = co_await client.request(req);
      std::string error = !r                 ? r.error().message()
                          : r->status != 200 ? "HTTP " + std::to_string(r->status)
                                             : "";
      Result<std::vector<ExternalFamily>> families = Error(error);
      if (error.empty()) {
        families = parse_exposition(r->body, {{"pod", pod_name}, {"container", cname}});
      }
      up.samples.push_back("tender_pod_scrape_up{pod=\"" + pod_name + "\",container=\"" + cname +
                           "\"} " + (families ? "1" : "0"));
      if (!families) {
        log::debug(
            "scrape failed",
            {{"pod", pod_name}, {"container", cname}, {"error", families.error().message()}});
        continue;
      }
      merge_families(all, std::move(*families));
    }
    if (!up.samples.empty()) {
      all.push_back(std::move(up));
    }
    std::lock_guard lock(scraped_mu);
    scraped = std::move(all);
  }
}

// --- summary, lookups, scaling -------------------------------------------------------------

void PodRunner::Impl::update_summary() {
  if (summary_pending) {
    return;
  }
  // A change after a quiet spell is seen at once; a burst of them at most every 20 ms.
  const auto now = SteadyClock::now();
  if (now - summary_at >= milliseconds(20)) {
    summary_at = now;
    compute_summary();
    return;
  }
  summary_pending = true;
  summary_timer.expires_at(summary_at + milliseconds(20));
  summary_timer.async_wait([this](const boost::system::error_code& ec) {
    summary_pending = false;
    if (!ec) {
      summary_at = SteadyClock::now();
      compute_summary();
    }
  });
}

void PodRunner::Impl::compute_summary() {
  std::map<std::string, int> states;
  std::map<std::string, int> phases;
  std::string reason;
  bool ready = true;
  for (const auto& pod : pods) {
    if (pod->deleted) {
      continue;
    }
    ++phases[phase_name(pod->phase)];
    for (auto* list : {&pod->init, &pod->main}) {
      for (const auto& c : *list) {
        ++states[c->state_name()];
      }
    }
    bool serving = pod->spec.restart_policy == RestartPolicy::kAlways;
    if (serving && !pod_ready(*pod) && reason.empty()) {
      reason = "pod " + pod->spec.name + " is not ready";
      ready = false;
    }
  }
  if (containers_by_state != nullptr) {
    for (const char* s : {"waiting", "running", "terminated"}) {
      containers_by_state->with({s}).set(states[s]);
    }
    for (const char* p : {"Pending", "Running", "Succeeded", "Failed"}) {
      pods_by_phase->with({p}).set(phases[p]);
    }
  }
  update_services();
  std::lock_guard lock(ready_mu);
  all_ready = ready;
  not_ready_reason = reason;
}

Pod* PodRunner::Impl::find_pod(std::string_view name) {
  for (auto& pod : pods) {
    if (!pod->deleted && pod->spec.name == name) {
      return pod.get();
    }
  }
  return nullptr;
}

void PodRunner::Impl::scale(const std::string& name, int replicas) {
  DeploymentSpec& d = deployments.at(name);
  int old = d.replicas;
  d.replicas = replicas;
  log::info("scaling", {{"deployment", name}, {"from", old}, {"to", replicas}});
  for (int i = old; i < replicas; ++i) {
    PodSpec spec = make_replica(d, i);
    if (Pod* gone = find_pod(spec.name)) {
      gone->deleted = true;  // a terminated pod of the same name is replaced
    }
    add_pod(std::move(spec));
  }
  // Surplus pods terminate gracefully, highest index first.
  for (int i = old - 1; i >= replicas; --i) {
    if (Pod* pod = find_pod(name + "-" + std::to_string(i))) {
      pod->deleted_when_finished = true;
      begin_termination(*pod);
    }
  }
}

// --- the role ----------------------------------------------------------------------------------

PodRunner::PodRunner(RunnerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->view.set_enabled(impl_->opts.log_view);
}

PodRunner::~PodRunner() { stop(); }

void PodRunner::start(Runtime& rt) {
  Impl& s = *impl_;
  s.rt = &rt;
  // Each running container holds four descriptors (its output pipes, pidfd and log file):
  // run_role raised the runner's limit (raise_fd_limit), and containers keep the old one.
  Registry& m = rt.metrics();
  s.restarts = &m.counter_family("tender_pod_container_restarts_total",
                                 "Container restarts, by pod and container.", {"pod", "container"});
  s.probe_failures = &m.counter_family("tender_pod_probe_failures_total",
                                       "Failed probe runs, by pod, container and probe.",
                                       {"pod", "container", "probe"});
  s.containers_by_state =
      &m.gauge_family("tender_pod_containers", "Containers by state.", {"state"});
  s.pods_by_phase = &m.gauge_family("tender_pod_pods", "Pods by phase.", {"phase"});
  m.set_external([&s] {
    std::lock_guard lock(s.scraped_mu);
    return s.scraped;
  });
  if (auto admin = rt.address("admin")) {
    s.api_url = "http://" + admin->str();
  }
  for (const auto& d : s.opts.manifests.deployments) {
    s.deployments.emplace(d.name, d);
  }
  if (!s.privileged) {
    refuse_what_needs_root(s.opts.manifests, s.opts.runtime == RunnerOptions::Runtime::kOci);
  }
  s.node = this_node();
  s.images = std::make_unique<ImageStore>(s.opts.state_dir + "/images");
  s.run_dir = RunDir::claim(s.opts.run_dir, rt.options().admin.port);
  s.opts.run_dir = s.run_dir.path();
  std::error_code exe_ec;
  s.self_exe = fs::read_symlink("/proc/self/exe", exe_ec).string();
  log::info("run directory",
            {{"path", s.opts.run_dir}, {"at_exit", s.run_dir.temporary() ? "removed" : "kept"}});
  s.setup_network();
  s.setup_services();
  // Pods are added on the supervisor thread, one per turn of its loop: start() returns at
  // once, and signals and admin requests are answered however many pods there are.
  asio::post(s.ioc, [&s] {
    if (s.net) {
      s.forward_api();
    }
    if (!s.services.empty()) {
      s.forward_services();
      // Until the first pod is ready, a Service's address refuses connections.
      s.services_dirty = true;
      asio::co_spawn(s.ioc, s.apply_services(), asio::detached);
    }
    asio::co_spawn(s.ioc, s.add_pods(), asio::detached);
    s.update_summary();
    asio::co_spawn(s.ioc, s.scrape_loop(), asio::detached);
  });
  // The supervisor thread spawns every container; children die with it (PR_SET_PDEATHSIG).
  s.thread = std::thread([&s] {
    // In the run namespace, every socket the supervisor opens (probes, scrapes) reaches pods.
    if (s.net) {
      if (auto ec = enter_netns(s.net->run_netns())) {
        log::error("cannot enter the pod network", {{"error", ec.message()}});
      }
    }
    auto guard = asio::make_work_guard(s.ioc);
    s.ioc.run();
  });
}

void PodRunner::drain() {
  Impl& s = *impl_;
  s.draining = true;
  asio::post(s.ioc, [&s] {
    for (auto& pod : s.pods) {
      s.begin_termination(*pod);
    }
  });
}

bool PodRunner::drained() const { return impl_->draining && impl_->unfinished.load() == 0; }

void PodRunner::stop() {
  Impl& s = *impl_;
  s.ioc.stop();
  if (s.thread.joinable()) {
    s.thread.join();
  }
  s.starts.close();
  // Anything still running is killed with its process group by ~Process.
  s.pods.clear();
  s.api_forward.reset();
  s.service_forwards.clear();
  s.net.reset();
  s.run_dir.release();  // a clean exit: nothing for the next runner here to clean up
}

Health PodRunner::ready() const {
  std::lock_guard lock(impl_->ready_mu);
  if (impl_->all_ready) {
    return {};
  }
  return Health::failing(impl_->not_ready_reason);
}

json::object PodRunner::status() const {
  Impl& s = *impl_;
  std::promise<json::object> done;
  auto f = done.get_future();
  asio::post(s.ioc, [&s, &done] {
    json::object o;
    o["run_dir"] = s.opts.run_dir;
    int n = 0;
    for (const auto& pod : s.pods) {
      n += pod->deleted ? 0 : 1;
    }
    o["pods"] = n;
    json::object deps;
    for (const auto& [name, d] : s.deployments) {
      deps[name] = d.replicas;
    }
    o["deployments"] = std::move(deps);
    o["jobs"] = s.jobs_json();
    o["services"] = s.services_json();
    // What is in force: "host" also when the pod network was asked for but is not possible.
    o["network"] = s.net ? "pod" : "host";
    if (s.net) {
      o["gateway"] = s.net->gateway();
      o["partitions"] = static_cast<std::int64_t>(s.net->partitions().pairs().size());
    }
    done.set_value(std::move(o));
  });
  if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    json::object o;
    o["run_dir"] = s.opts.run_dir;
    return o;
  }
  return f.get();
}

namespace {

// The Jobs, StatefulSets and claims of the run, for /configz.
void add_workloads_config(const Manifests& m, json::object& o) {
  json::object jobs;
  for (const auto& j : m.jobs) {
    json::object e;
    if (j.completions) {
      e["completions"] = *j.completions;
    }
    e["parallelism"] = j.parallelism;
    e["backoffLimit"] = j.backoff_limit;
    jobs[j.name] = std::move(e);
  }
  o["jobs"] = std::move(jobs);
  json::object sets;
  for (const auto& set : m.stateful_sets) {
    json::object e;
    e["replicas"] = set.replicas;
    e["podManagementPolicy"] = set.parallel ? "Parallel" : "OrderedReady";
    json::array claims;
    for (const auto& c : set.claim_templates) {
      claims.push_back(json::string(c.name));
    }
    e["volumeClaimTemplates"] = std::move(claims);
    sets[set.name] = std::move(e);
  }
  o["statefulSets"] = std::move(sets);
  json::array claims;
  for (const auto& [id, c] : m.objects->claims) {
    claims.push_back(json::string(c.namespace_ + "/" + c.name));
  }
  o["persistentVolumeClaims"] = std::move(claims);
  json::array services;
  for (const auto& svc : m.services) {
    services.push_back(json::string(svc.namespace_ + "/" + svc.name));
  }
  o["services"] = std::move(services);
}

}  // namespace

json::object PodRunner::config() const {
  json::object o;
  o["run_dir"] = impl_->opts.run_dir;
  o["restart_backoff_initial"] = format_duration(
      std::chrono::duration_cast<milliseconds>(impl_->opts.restart_backoff.initial));
  o["restart_backoff_max"] =
      format_duration(std::chrono::duration_cast<milliseconds>(impl_->opts.restart_backoff.max));
  o["log_max_bytes"] = impl_->opts.log_max_bytes;
  o["log_keep"] = impl_->opts.log_keep;
  o["log_view"] = impl_->opts.log_view;
  o["scrape_interval"] = format_duration(impl_->opts.scrape_interval);
  o["network"] = impl_->opts.network == RunnerOptions::Network::kPod ? "pod" : "host";
  o["pod_cidr"] = impl_->opts.pod_cidr;
  o["service_cidr"] = impl_->opts.service_cidr;
  const ManifestLimits& limits = impl_->opts.limits;
  o["max_manifest_bytes"] = limits.max_file_bytes;
  o["max_pods"] = limits.max_pods;
  o["max_containers"] = limits.max_containers;
  o["max_env"] = limits.max_env;
  json::array pods;
  for (const auto& p : impl_->opts.manifests.pods) {
    pods.push_back(json::string(p.name));
  }
  o["pods"] = std::move(pods);
  json::object deps;
  for (const auto& d : impl_->opts.manifests.deployments) {
    deps[d.name] = d.replicas;
  }
  o["deployments"] = std::move(deps);
  // The run's ConfigMaps and Secrets by name and key: never a value.
  for (bool secret : {false, true}) {
    const ConfigObjects empty;
    const ConfigObjects& objects =
        impl_->opts.manifests.objects ? *impl_->opts.manifests.objects : empty;
    json::array list;
    for (const auto& [id, obj] : secret ? objects.secrets : objects.config_maps) {
      json::object e;
      e["namespace"] = obj.namespace_;
      e["name"] = obj.name;
      if (secret) {
        e["type"] = obj.type;
      }
      json::array keys;
      for (const auto& [key, value] : obj.data) {
        keys.push_back(json::string(key));
      }
      e["keys"] = std::move(keys);
      list.push_back(std::move(e));
    }
    o[secret ? "secrets" : "configMaps"] = std::move(list);
  }
  add_workloads_config(impl_->opts.manifests, o);
  o["runtime"] = impl_->opts.runtime == RunnerOptions::Runtime::kOci ? "oci" : "host";
  o["state_dir"] = impl_->opts.state_dir;
  return o;
}

}  // namespace tender::pod
