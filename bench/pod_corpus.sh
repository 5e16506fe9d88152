#!/usr/bin/env bash
# tender pod and `podman kube play` side by side on the manifest corpus (tests/manifests/*.yaml,
# manifests in the shapes real Kubernetes ones take): how many of them each accepts. tender:
# `tender pod validate FILE`, accepted on exit 0. podman: `podman kube play --start=false FILE`,
# accepted on exit 0, then `podman kube down FILE`; nothing is started. Prints a table (manifest,
# tender, podman: accepted with what each would run, or refused with the first line of the
# reason), the totals, the manifests podman accepts that tender refuses (issue 27's target:
# accept every manifest podman accepts) and those tender accepts that podman refuses. For an
# accepted manifest the table says how many pods each would run, replicas included.
#
# podman looks up the images a manifest names, and pulls those it does not have (there is no
# registry to pull from here, and a failed pull is no verdict on the manifest). So a busybox image
# is built here from /bin/busybox with umoci, copied into containers-storage with skopeo, and named
# (`podman tag`) under every image reference of the corpus, normalised as podman does (redis:7 ->
# docker.io/library/redis:7, nginx -> docker.io/library/nginx:latest). None of the corpus sets
# imagePullPolicy: podman then pulls what it does not store, and its manual says it pulls a :latest
# (or untagged) image anyway; the corpus names such images only by short names (nginx, alpine,
# bitnami/kubectl), and podman 4.3.1 takes those from its store without a pull. An imagePullPolicy:
# Always would make it pull, and fail here, which says nothing of the manifest. Needs root, podman,
# skopeo and umoci (tools/install-deps.sh installs skopeo and umoci; podman: apt-get install
# podman). podman reads a containers.conf of the bench's own (CONTAINERS_CONF): its default ulimits
# are above what this machine allows. Everything the run adds to podman's storage (pods, containers,
# volumes made for claims, secrets, the images and names added, podman's pause image if it built
# one) is removed at the end; podman's netavark may leave its nftables tables (ip nat, ip filter) on
# the machine, and they stay. Raw outputs stay in $KEEP if it is set.
#
#   bench/pod_corpus.sh                 # the corpus of this tree
#   CORPUS=dir bench/pod_corpus.sh      # another directory of *.yaml
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
tender=${TENDER:-$here/../build/src/tender}
corpus=${CORPUS:-$here/../tests/manifests}
[ -x "$tender" ] || { echo "build tender first (tools/build.sh)" >&2; exit 1; }
for tool in podman umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "$tool missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root: podman's storage here is root's" >&2; exit 1; }
files=("$corpus"/*.yaml)
[ -e "${files[0]}" ] || { echo "no manifests in $corpus" >&2; exit 1; }

work=$(mktemp -d)
base=localhost/pod-corpus-busybox:1
added=()
snapshot() {
  podman pod ls -q --no-trunc | sort >"$1.pods"
  podman ps -aq --no-trunc | sort >"$1.containers"
  podman volume ls -q | sort >"$1.volumes"
  podman secret ls --format '{{.ID}}' 2>/dev/null | sort >"$1.secrets" || : >"$1.secrets"
  podman images -aq --no-trunc | sort -u >"$1.images"
}
# What is in podman's storage now and was not at $1: $2 of pods, containers, volumes, ...
new_since() { comm -13 "$1.$2" <(podman_list "$2"); }
podman_list() {
  case $1 in
    pods) podman pod ls -q --no-trunc | sort ;;
    containers) podman ps -aq --no-trunc | sort ;;
    volumes) podman volume ls -q | sort ;;
    secrets) podman secret ls --format '{{.ID}}' 2>/dev/null | sort ;;
    images) podman images -aq --no-trunc | sort -u ;;
  esac
}
remove_new() {
  local id
  for id in $(new_since "$1" pods); do podman pod rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $(new_since "$1" containers); do podman rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $(new_since "$1" volumes); do podman volume rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $(new_since "$1" secrets); do podman secret rm "$id" >/dev/null 2>&1 || true; done
}
cleanup() {
  if [ -e "$work/start.pods" ]; then
    remove_new "$work/start"
    if [ "${#added[@]}" -gt 0 ]; then podman rmi -f "${added[@]}" >/dev/null 2>&1 || true; fi
    podman rmi -f "$base" >/dev/null 2>&1 || true
    for id in $(new_since "$work/start" images); do
      podman rmi -f "$id" >/dev/null 2>&1 || true
    done
  fi
  if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$work"/*.out "$work"/*.err "$KEEP"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The name podman stores an image reference under: a registry for a name without one (a first
# component without a dot or colon that is not localhost), library/ for a Docker Hub name
# without a slash, :latest for a name without a tag or digest.
normalise() {
  local ref=$1 first=${1%%/*}
  if [[ $ref != */* ]]; then
    ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    ref=docker.io/$ref
  fi
  [[ ${ref##*/} == *:* || $ref == *@* ]] || ref=$ref:latest
  echo "$ref"
}

# --- the image, under every name the corpus uses ---------------------------------------------
layout=$work/layout
busybox_image "$layout" "$work/bundle"

export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
snapshot "$work/start"
skopeo copy -q "oci:$layout:busybox" "containers-storage:$base"
mapfile -t refs < <(grep -ho 'image: *[^ ,}]*' "${files[@]}" | sed 's/image: *//; s/["'\'']//g' |
  sort -u)
for ref in "${refs[@]}"; do
  name=$(normalise "$ref")
  if [[ $name == *@* ]]; then
    echo "note: $ref is named by digest; podman will try to pull it" >&2
  elif ! podman image exists "$name"; then
    podman tag "$base" "$name"
    added+=("$name")
  fi
done

# --- each manifest, with each -------------------------------------------------------------------
cell() { echo "${1//|/\\|}"; }
plural() { if [ "$1" = 1 ]; then echo "$1 $2"; else echo "$1 $2s"; fi; }
n=0 tender_yes=0 podman_yes=0
rows=() only_podman=() only_tender=()
for f in "${files[@]}"; do
  m=$(basename "$f" .yaml)
  n=$((n + 1))
  rc=0
  "$tender" pod validate "$f" >"$work/$m.tender.out" 2>"$work/$m.tender.err" || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 2 ]; then
    echo "tender pod validate $f exited $rc:" >&2
    cat "$work/$m.tender.err" >&2
    exit 1
  fi
  if [ "$rc" = 0 ]; then
    tender_yes=$((tender_yes + 1))
    pods="" jobs=""
    read -r pods jobs < <(sed -n 's/^ok: \([0-9]*\) pod(s), \([0-9]*\) Job(s).*/\1 \2/p' \
      "$work/$m.tender.out") || true
    t="accepted: $(plural "${pods:-?}" pod)"
    [ "${jobs:-0}" = 0 ] || t="$t, $(plural "$jobs" Job)"
    t_ok=1
  else
    reason=$(grep -m1 '^tender: ' "$work/$m.tender.err" || head -1 "$work/$m.tender.err")
    reason=${reason#tender: }
    t="refused: line ${reason#"$f":}"
    t_ok=0
  fi

  snapshot "$work/before"
  if timeout 120 podman kube play --start=false "$f" >"$work/$m.podman.out" \
    2>"$work/$m.podman.err"; then
    podman_yes=$((podman_yes + 1))
    p="accepted: $(plural "$(new_since "$work/before" pods | wc -l)" pod)"
    [ "$t_ok" = 1 ] || only_podman+=("$m")
  else
    reason=$(grep -m1 '^Error: ' "$work/$m.podman.err" || grep -m1 . "$work/$m.podman.err" || true)
    p="refused: ${reason#Error: }"
    [ "$t_ok" = 0 ] || only_tender+=("$m")
    # A crash is no verdict on the manifest, but it is not an acceptance either: say so.
    [[ $reason != panic:* ]] || p="refused (podman crashed): $reason"
  fi
  podman kube down "$f" >/dev/null 2>&1 || true
  remove_new "$work/before"
  rows+=("| $m | $(cell "$t") | $(cell "$p") |")
done

echo "| manifest | tender pod validate | podman kube play --start=false |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "tender accepts $tender_yes of $n, podman accepts $podman_yes of $n"
if [ "${#only_podman[@]}" -eq 0 ]; then
  echo "podman accepts none that tender refuses"
else
  echo "podman accepts, tender refuses: ${only_podman[*]}"
fi
echo "tender accepts, podman refuses: ${only_tender[*]:-none}"
echo "($(podman --version); images added under: ${refs[*]})"
