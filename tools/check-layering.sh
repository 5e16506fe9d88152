#!/usr/bin/env bash
# Fails when the folders' rules of dependency are broken (DESIGN.md, "Layout"):
# - src/core includes no role folder;
# - a role folder (src/<role>/) includes only src/core and itself;
# - src/main.cpp, tests/ and bench/ include of a role only its public header,
#   src/<role>/<role>.hpp (its add_command); everything else in a role folder is private
#   (fuzz/ targets, like unit tests, exercise a role's insides). tests/ may also include a
#   role's test-only helpers, src/<role>/*_test_support.hpp (header-only, shared by its unit
#   tests and the integration tests, e.g. the pod's test images).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t roles < <(find src -mindepth 1 -maxdepth 1 -type d ! -name core -printf '%f\n' | sort)
failed=0
fail() {
  echo "check-layering: $1" >&2
  failed=1
}
# Every quoted include of a tree folder: FILE:LINE:FOLDER/REST
includes() {
  grep -HnoE '^#include "[a-z_]+/[^"]+"' "$@" 2>/dev/null |
    sed -E 's/^([^:]+):([0-9]+):#include "([^"]+)"$/\1:\2:\3/' || true
}
is_role() {
  local r
  for r in "${roles[@]}"; do
    [ "$r" = "$1" ] && return 0
  done
  return 1
}
mapfile -t sources < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' \
  'bench/*.cpp' 'bench/*.hpp' 2>/dev/null || find src tests bench -name '*.[ch]pp')
while IFS=: read -r file line target; do
  [ -n "$file" ] || continue
  folder=${target%%/*}
  is_role "$folder" || continue  # core/..., or a system path
  case "$file" in
    src/core/*)
      fail "$file:$line: core includes role folder $folder ($target)" ;;
    src/*/*)
      own=${file#src/}
      own=${own%%/*}
      [ "$own" = "$folder" ] || fail "$file:$line: role $own includes role $folder ($target)" ;;
    tests/*)
      [ "$target" = "$folder/$folder.hpp" ] || [[ "$target" == "$folder"/*_test_support.hpp ]] ||
        fail "$file:$line: $target is private to src/$folder; include $folder/$folder.hpp" ;;
    *)
      [ "$target" = "$folder/$folder.hpp" ] ||
        fail "$file:$line: $target is private to src/$folder; include $folder/$folder.hpp" ;;
  esac
done < <(includes "${sources[@]}")
if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "check-layering: ${#roles[@]} roles (${roles[*]}), each on core only"
