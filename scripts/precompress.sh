#!/usr/bin/env bash
# Writes .gz (gzip -9) and .br (brotli -q 11) beside each page file, so the server sends them
# to browsers that accept them. Trunk runs it after every build (Trunk.toml, post_build hook).
set -euo pipefail
dir="${1:?usage: precompress.sh DIR}"
have_brotli=false
command -v brotli >/dev/null && have_brotli=true
for file in "$dir"/*.js "$dir"/*.wasm "$dir"/*.css; do
  [ -f "$file" ] || continue
  gzip -9 -k -f -n "$file"
  if $have_brotli; then brotli -q 11 -k -f "$file"; fi
done
$have_brotli || echo "precompress: brotli is not installed, so only .gz files were written" >&2
