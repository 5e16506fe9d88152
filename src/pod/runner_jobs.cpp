// The runner's Jobs: each makes pods from its template until enough have succeeded, at most
// `parallelism` at a time, and gives up past its backoffLimit or activeDeadlineSeconds, as the
// Kubernetes Job controller does. A run of Jobs (and pods that end) ends with them, and its
// exit code says whether every Job completed.
#include "core/backoff.hpp"
#include "core/log.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {

namespace {

const char* job_phase_name(JobState::Phase p) {
  switch (p) {
    case JobState::Phase::kRunning:
      return "Running";
    case JobState::Phase::kComplete:
      return "Complete";
    case JobState::Phase::kFailed:
      return "Failed";
    case JobState::Phase::kSuspended:
      return "Suspended";
  }
  return "Unknown";
}

}  // namespace

JobState::Counts PodRunner::Impl::count_job_pods(const std::string& job) const {
  JobState::Counts n;
  for (const auto& pod : pods) {
    if (pod->spec.job != job) {
      continue;
    }
    if (!pod->finished) {
      ++n.active;
    } else if (pod->phase == Pod::Phase::kSucceeded) {
      ++n.succeeded;
    } else {
      ++n.failed;
    }
    for (const auto& c : pod->main) {
      n.restarts += c->restarts;  // under OnFailure, failures too
    }
    for (const auto& c : pod->init) {
      n.restarts += c->restarts;
    }
  }
  return n;
}

asio::awaitable<void> PodRunner::Impl::run_job(JobState& job) {
  const JobSpec& spec = job.spec;
  Backoff backoff(opts.restart_backoff, system_clock());
  auto next_start = SteadyClock::now();
  int failures_seen = 0;
  job.started = SteadyClock::now();
  if (spec.suspend) {
    job.phase = JobState::Phase::kSuspended;
    log::info("job suspended: it makes no pods", {{"job", spec.name}});
    co_return;
  }
  log::info("job starting", {{"job", spec.name},
                             {"completions", spec.completions ? *spec.completions : -1},
                             {"parallelism", spec.parallelism}});
  while (!draining) {
    job.counts = count_job_pods(spec.name);
    const JobState::Counts& n = job.counts;
    const int failures = n.failed + n.restarts;
    const bool deadline_passed =
        spec.active_deadline && SteadyClock::now() - job.started >= *spec.active_deadline;
    if (failures > spec.backoff_limit || deadline_passed) {
      job.phase = JobState::Phase::kFailed;
      job.reason = deadline_passed ? "DeadlineExceeded" : "BackoffLimitExceeded";
      break;
    }
    const bool done =
        spec.completions ? n.succeeded >= *spec.completions : n.succeeded > 0 && n.active == 0;
    if (done) {
      job.phase = JobState::Phase::kComplete;
      break;
    }
    if (failures > failures_seen) {
      failures_seen = failures;  // the next pod waits as a restart would
      next_start = SteadyClock::now() + backoff.next();
    }
    // A work queue (no completions) starts nothing once a pod has succeeded: the others finish
    // the queue.
    int want = spec.completions ? std::min(spec.parallelism, *spec.completions - n.succeeded)
                                : (n.succeeded > 0 ? 0 : spec.parallelism);
    if (n.active < want && SteadyClock::now() >= next_start) {
      add_pod(make_job_pod(spec, job.made++));
      continue;  // counted again, so one pod at a time until enough run
    }
    co_await sleep_for(milliseconds(20));
  }
  if (job.phase == JobState::Phase::kFailed) {
    for (auto& pod : pods) {
      if (pod->spec.job == spec.name && !pod->finished) {
        begin_termination(*pod);
      }
    }
    log::warn("job failed", {{"job", spec.name},
                             {"reason", job.reason},
                             {"succeeded", job.counts.succeeded},
                             {"failed", job.counts.failed}});
  } else if (job.phase == JobState::Phase::kComplete) {
    log::info("job complete", {{"job", spec.name}, {"succeeded", job.counts.succeeded}});
  }
  co_await end_run_after_jobs();
}

asio::awaitable<void> PodRunner::Impl::end_run_after_jobs() {
  // A run that serves (a Deployment, a pod that restarts Always) goes on until told to stop.
  if (!deployments.empty() || !opts.manifests.stateful_sets.empty() || ending_after_jobs) {
    co_return;
  }
  for (const auto& pod : opts.manifests.pods) {
    if (pod.restart_policy == RestartPolicy::kAlways) {
      co_return;
    }
  }
  for (const auto& [name, job] : jobs) {
    if (job.phase == JobState::Phase::kRunning || job.phase == JobState::Phase::kSuspended) {
      co_return;
    }
  }
  ending_after_jobs = true;
  // Every Job has ended: once the other pods have too, so does the run.
  for (;;) {
    bool all_finished = first_pods_added;
    for (const auto& pod : pods) {
      all_finished = all_finished && pod->finished;
    }
    if (all_finished || draining) {
      break;
    }
    co_await sleep_for(milliseconds(20));
  }
  int code = 0;
  for (const auto& [name, job] : jobs) {
    code = job.phase == JobState::Phase::kComplete ? code : 1;
  }
  log::info("every job has ended; stopping", {{"exit_code", code}});
  rt->shutdown(code);
}

boost::json::array PodRunner::Impl::jobs_json() const {
  boost::json::array out;
  for (const auto& [name, job] : jobs) {
    const JobState::Counts n = count_job_pods(name);
    boost::json::object o;
    o["name"] = name;
    o["phase"] = job_phase_name(job.phase);
    if (!job.reason.empty()) {
      o["reason"] = job.reason;
    }
    if (job.spec.completions) {
      o["completions"] = *job.spec.completions;
    }
    o["parallelism"] = job.spec.parallelism;
    o["active"] = n.active;
    o["succeeded"] = n.succeeded;
    o["failed"] = n.failed;
    o["restarts"] = n.restarts;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tender::pod
