#!/usr/bin/env bash
# Time from a commit to its publication by `tender sync --period 1s`.
#
# A local bare git repository (in a temporary directory) and `tender sync --source
# git:REPO#main --period 1s`. N times: a commit is pushed to the bare repository (the clock
# starts when `git push` returns), then the published link DEST/current is polled every
# millisecond until it names the new commit's tree (the clock stops). Between commits a random
# pause of 0 to 1 s, so commits land at every phase of the period. Prints p50, p99 and max of
# commit-to-publication, and the time of a sync itself (publishing: from sync's log; finding
# nothing new: the rest of tender_sync_duration_seconds):
# with a period P, about P/2 of the wait on average (up to P) is the commit waiting for the
# next sync to start.
#
# No side-by-side peer: git-sync (kubernetes/git-sync), the tool users pick for this, is not
# packaged for Debian 12 and this machine builds and runs only Debian packages, so it cannot run
# here. Its documented behaviour is the same loop (`--period`, default 10s; `git ls-remote`,
# then a fetch of what changed, then a worktree and a symlink swap), so its latency is bounded
# the same way by its period.
#
#   bench/sync.sh [--commits N] [--period 1s]      default: 50 commits, about a minute
#     KEEP=1 keeps the work directory (sync's log) and says where.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
build=${BUILD_DIR:-$here/../build}
tender=${TENDER:-$build/src/tender}

commits=${COMMITS:-50}
period=1s
while [ $# -gt 0 ]; do
  case $1 in
    --commits) commits=$2; shift ;;
    --period) period=$2; shift ;;
    *) echo "unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

bench_workdir
if [ -n "${KEEP:-}" ]; then
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; echo "kept $work"' EXIT
fi

git init --quiet --bare --initial-branch=main "$work/site.git"
git init --quiet --initial-branch=main "$work/clone"
git -C "$work/clone" config user.name bench
git -C "$work/clone" config user.email bench@example.org
mkdir -p "$work/clone/pages"
for i in $(seq 1 20); do echo "page $i" > "$work/clone/pages/p$i.html"; done
echo 0 > "$work/clone/n"
git -C "$work/clone" add -A
git -C "$work/clone" commit --quiet -m 0
git -C "$work/clone" push --quiet "$work/site.git" HEAD:refs/heads/main

admin=$(free_port)
"$tender" sync --source "git:$work/site.git#main" --dest "$work/site" --period "$period" \
  --admin "127.0.0.1:$admin" > "$work/sync.out" 2> "$work/sync.log" &
pids+=($!)
wait_port "$admin"

python3 - "$work" "$commits" "$admin" <<'PY'
import os, random, subprocess, sys, time, urllib.request

work, commits, admin = sys.argv[1], int(sys.argv[2]), sys.argv[3]
clone, bare, link = work + "/clone", work + "/site.git", work + "/site/current"

def git(*args):
    return subprocess.run(["git", "-C", clone, *args], check=True, capture_output=True,
                          text=True).stdout.strip()

def published():
    try:
        return os.readlink(link)
    except OSError:
        return ""

def wait_for(rev, limit=60.0):
    start = time.monotonic()
    while published() != ".tender-sync/rev-" + rev:
        if time.monotonic() - start > limit:
            sys.exit("revision %s not published within %.0f s" % (rev, limit))
        time.sleep(0.001)

def metric(name):
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % admin).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0

wait_for(git("rev-parse", "HEAD"))
rng = random.Random(7)
times = []
count0, sum0 = metric("tender_sync_duration_seconds_count"), metric("tender_sync_duration_seconds_sum")
for n in range(1, commits + 1):
    time.sleep(rng.random())
    with open(clone + "/n", "w") as f:
        f.write("%d\n" % n)
    git("commit", "--quiet", "-am", str(n))
    git("push", "--quiet", bare, "HEAD:refs/heads/main")
    t0 = time.monotonic()
    wait_for(git("rev-parse", "HEAD"))
    times.append(time.monotonic() - t0)
count, total = metric("tender_sync_duration_seconds_count"), metric("tender_sync_duration_seconds_sum")
# The syncs that published, from sync's log ("published ... ms=N"), the first one excepted.
published_ms = []
with open(work + "/sync.log") as log:
    for line in log:
        if " published " in line and " ms=" in line:
            published_ms.append(float(line.rsplit(" ms=", 1)[1].split()[0]))
published_ms = published_ms[1:]
times.sort()
def pct(p):
    return times[min(len(times) - 1, int(round(p / 100.0 * (len(times) - 1))))]
print("commits: %d" % len(times))
print("commit to publication: p50 %.0f ms, p99 %.0f ms, max %.0f ms" %
      (pct(50) * 1000, pct(99) * 1000, times[-1] * 1000))
syncs, sync_ms = count - count0, (total - sum0) * 1000
if published_ms and syncs > len(published_ms):
    published_ms.sort()
    print("a sync that publishes (ls-remote, fetch, archive, check, tar -x, syncfs, swap): "
          "p50 %.0f ms, mean %.0f ms over %d" %
          (published_ms[len(published_ms) // 2], sum(published_ms) / len(published_ms),
           len(published_ms)))
    print("a sync that finds nothing new (ls-remote): mean %.0f ms over %d" %
          ((sync_ms - sum(published_ms)) / (syncs - len(published_ms)),
           syncs - len(published_ms)))
PY
echo "peer: none (git-sync is not packaged for Debian 12; see the top of this script)"
