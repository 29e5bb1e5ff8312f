#!/usr/bin/env bash
# Build time: bake a variant's custom-node bundles into the image.
#
#   install-custom-nodes.sh VARIANT CUSTOM_NODES_DIR   clone every node of the variant's bundles at
#                                                      its pinned commit, then install all their
#                                                      requirements in one resolver run
#   install-custom-nodes.sh --list VARIANT             print "folder url commit" lines (no network)
#
# Which bundles a variant has: ../variants.txt. The bundles: ../bundles/<name>.txt.
# Requirements are resolved together (a conflict between two nodes fails the build instead of
# the later install silently replacing the earlier one's packages) and constrained by
# LAUNCHPAD_CONSTRAINTS, which pins the CUDA torch the builder installed. install.py scripts
# are not run: they download unpinned code or models at build time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUNDLES_DIR=${BUNDLES_DIR:-$HERE/../bundles}
VARIANTS_FILE=${VARIANTS_FILE:-$HERE/../variants.txt}
PYTHON=${PYTHON:-/opt/venv/bin/python}
LAUNCHPAD_CONSTRAINTS=${LAUNCHPAD_CONSTRAINTS:-/opt/launchpad/constraints.txt}
UV_BIN=${UV_BIN:-uv}

die() {
  echo "install-custom-nodes: $*" >&2
  exit 2
}

bundles_of() { # the bundle names of variant $1
  local variant bundles
  while read -r variant bundles; do
    case $variant in "" | "#"*) continue ;; esac
    if [ "$variant" = "$1" ]; then
      printf '%s\n' "$bundles"
      return 0
    fi
  done <"$VARIANTS_FILE"
  die "unknown variant '$1' (see $VARIANTS_FILE)"
}

nodes_of() { # "folder url commit" for every node of variant $1, each folder once
  local bundle bundles file folder url commit extra
  local -A seen=()
  bundles=$(bundles_of "$1") || exit 2
  for bundle in $bundles; do
    file="$BUNDLES_DIR/$bundle.txt"
    [ -f "$file" ] || die "variant '$1' names bundle '$bundle' but $file does not exist"
    while read -r folder url commit extra; do
      case $folder in "" | "#"*) continue ;; esac
      [[ $folder =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "$file: bad folder name '$folder'"
      [[ $url =~ ^(https|file)://[^[:space:]]+$ ]] || die "$file: $folder: the repository must be an https:// (or, in tests, file://) URL"
      [[ $commit =~ ^[0-9a-f]{40}$ ]] || die "$file: $folder: the pin must be a full 40-hex commit id"
      [ -z "$extra" ] || die "$file: $folder: unexpected text after the commit"
      if [ -n "${seen[$folder]:-}" ]; then
        [ "${seen[$folder]}" = "$url $commit" ] || die "$folder is pinned twice, differently"
        continue
      fi
      seen[$folder]="$url $commit"
      printf '%s %s %s\n' "$folder" "$url" "$commit"
    done <"$file"
  done
}

if [ "${1:-}" = "--list" ]; then
  [ $# -eq 2 ] || die "usage: install-custom-nodes.sh --list VARIANT"
  nodes_of "$2"
  exit 0
fi
[ $# -eq 2 ] || die "usage: install-custom-nodes.sh VARIANT CUSTOM_NODES_DIR"
variant=$1 target=$2
mkdir -p "$target"

nodes=$(nodes_of "$variant")
requirements=()
while read -r folder url commit; do
  [ -n "$folder" ] || continue
  "$HERE/git-pin.sh" "$url" "$commit" "$target/$folder"
  if [ -f "$target/$folder/requirements.txt" ]; then
    requirements+=(-r "$target/$folder/requirements.txt")
  fi
done <<<"$nodes"

if [ "${#requirements[@]}" -gt 0 ]; then
  constraint=()
  if [ -f "$LAUNCHPAD_CONSTRAINTS" ]; then constraint=(--constraint "$LAUNCHPAD_CONSTRAINTS"); fi
  "$UV_BIN" pip install --python "$PYTHON" "${constraint[@]}" "${requirements[@]}"
fi
echo "install-custom-nodes: variant $variant: $(grep -c . <<<"$nodes") custom nodes in $target"
