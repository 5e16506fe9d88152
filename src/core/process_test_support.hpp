#pragma once
// What the process tests share: a child run to its end for its output, and a child whose
// parent dies under it.

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "core/process.hpp"

namespace tender::testing {

// A child's stdout and its exit status.
struct Output {
  std::string out;
  ExitStatus status;
};

// Spawns `o` with its stdout on a pipe and reads it to the end; a failed spawn is a test
// failure (and an empty Output).
inline Output run(SpawnOptions o) {
  o.stdout_ = Stdio::pipe();
  auto p = Process::spawn(o);
  if (!p) {
    ADD_FAILURE() << "spawn: " << p.error().message();
    return {};
  }
  Output result;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p->stdout_fd(), buf, sizeof buf)) > 0) {
    result.out.append(buf, static_cast<size_t>(n));
  }
  result.status = p->wait();
  return result;
}

// Spawns `options` from a forked intermediate process that then exits at once without
// destroying its Process, as a supervisor that crashes would; reaps the intermediate and
// returns the pid of the child it spawned (-1 if the spawn failed). The child is then an
// orphan: call become_subreaper() first to have it come to this process.
inline pid_t spawn_and_abandon(const SpawnOptions& options) {
  int fds[2];
  if (::pipe(fds) != 0) {
    return -1;
  }
  const pid_t intermediate = ::fork();
  if (intermediate < 0) {
    return -1;
  }
  if (intermediate == 0) {
    ::close(fds[0]);
    auto p = Process::spawn(options);
    const pid_t pid = p ? p->pid() : -1;
    (void)!::write(fds[1], &pid, sizeof pid);
    ::_exit(0);  // no destructors: the Process is abandoned, as if we crashed
  }
  ::close(fds[1]);
  pid_t child = -1;
  if (::read(fds[0], &child, sizeof child) != static_cast<ssize_t>(sizeof child)) {
    child = -1;
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(intermediate, &status, 0);
  return child;
}

}  // namespace tender::testing
