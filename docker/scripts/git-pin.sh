#!/usr/bin/env bash
# git-pin.sh URL REF DEST [COMMIT]
#
# Check out one commit of a repository into DEST with the smallest download: a depth-1 fetch
# of REF (a tag, branch or commit id). When COMMIT is given (or REF is itself a 40-hex id) the
# checked-out commit must be exactly that one, so a moved tag or a typo fails the build
# instead of silently shipping other code. Submodules are fetched at their recorded commits.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: git-pin.sh URL REF DEST [COMMIT]" >&2
  exit 2
fi
url=$1 ref=$2 dest=$3 expected=${4:-}
if [ -z "$expected" ] && [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
  expected=$ref
fi

git init -q "$dest"
git -C "$dest" remote add origin "$url"
git -C "$dest" fetch -q --depth 1 origin "$ref"
git -C "$dest" -c advice.detachedHead=false checkout -q FETCH_HEAD
actual=$(git -C "$dest" rev-parse HEAD)
if [ -n "$expected" ] && [ "$actual" != "$expected" ]; then
  echo "git-pin: $url $ref is at $actual, expected $expected" >&2
  exit 1
fi
if [ -f "$dest/.gitmodules" ]; then
  git -C "$dest" submodule update -q --init --recursive --depth 1
fi
echo "git-pin: $url @ $actual -> $dest"
