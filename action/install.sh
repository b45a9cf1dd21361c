#!/usr/bin/env bash
# Puts the promptgate binary for this runner on the PATH: the release asset
# for the action's own version, verified against the release's SHA256SUMS;
# if there is no such release asset (no release for this ref, or none for
# this platform), builds the same ref with cargo — many minutes, uncached —
# and says so as a warning on the run.
set -euo pipefail

version="${PROMPTGATE_VERSION:-}"
repo="${PROMPTGATE_ACTION_REPOSITORY:-}"
if [ -z "$version" ] || [ -z "$repo" ]; then
  echo "::error::promptgate: cannot tell which version to install (action_ref or the version input)"
  exit 2
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux-aarch64) target=aarch64-unknown-linux-gnu ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  *) target="" ;;
esac

bin_dir="${RUNNER_TEMP:-/tmp}/promptgate-bin"
mkdir -p "$bin_dir"
api="${GITHUB_SERVER_URL:-https://github.com}"

install_release() {
  [ -n "$target" ] || return 1
  local asset="promptgate-${target}.tar.gz" tmp
  tmp="$(mktemp -d)"
  curl -fsSL --retry 3 -o "$tmp/$asset" "$api/$repo/releases/download/$version/$asset" || return 1
  curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$api/$repo/releases/download/$version/SHA256SUMS" || return 1
  # Only the line for our asset; a missing line fails the check.
  (cd "$tmp" && grep " $asset\$" SHA256SUMS | sha256sum -c --strict -) || {
    echo "::error::promptgate: checksum mismatch for $asset"
    exit 2
  }
  tar -xzf "$tmp/$asset" -C "$bin_dir" promptgate
}

if ! install_release; then
  echo "::warning title=promptgate is being built from source::No release binary promptgate-${target:-<unsupported platform>}.tar.gz at $api/$repo/releases/tag/$version, so the action is compiling promptgate with cargo. This takes 10-30 minutes on every run (nothing is cached). Use a released version (uses: $repo@v1, or the version input set to a release tag such as v1.2.3); see docs/action.md, \"Where the binary comes from\"."
  if ! command -v cargo >/dev/null 2>&1; then
    echo "::error::promptgate: no release binary for $version and no cargo on this runner to build one; use a released version of the action (see docs/action.md)"
    exit 2
  fi
  # A release tag, a commit, or a branch (uses: owner/promptgate@main).
  if [[ "$version" =~ ^[0-9a-f]{40}$ ]]; then
    source_ref=(--rev "$version")
  elif [[ "$version" =~ ^v[0-9] ]]; then
    source_ref=(--tag "$version")
  else
    source_ref=(--branch "$version")
  fi
  started=$SECONDS
  cargo install --locked --git "$api/$repo" "${source_ref[@]}" --root "${bin_dir%/}/.." promptgate
  bin_dir="${bin_dir%/}/../bin"
  echo "promptgate: built from source in $((SECONDS - started))s"
fi

echo "$bin_dir" >> "$GITHUB_PATH"
"$bin_dir/promptgate" --version
