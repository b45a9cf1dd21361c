#!/usr/bin/env bash
# Puts the promptgate binary for this runner on the PATH: the release asset
# for the action's own version, verified against the release's SHA256SUMS;
# if there is no asset for this platform, builds the same tag with cargo.
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
  echo "promptgate: no release binary for ${target:-this platform} at $version; building from source"
  cargo install --locked --git "$api/$repo" --tag "$version" --root "${bin_dir%/}/.." promptgate
  bin_dir="${bin_dir%/}/../bin"
fi

echo "$bin_dir" >> "$GITHUB_PATH"
"$bin_dir/promptgate" --version
