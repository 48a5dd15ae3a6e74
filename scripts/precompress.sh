#!/usr/bin/env bash
# Trunk runs this after every build (Trunk.toml, post_build hook) on the staging dir.
#
# A release build first gets shorter: the stream classes wasm-streams exports (which
# this page never uses) go from the wasm and the glue, wasm-opt renames the wasm's imports
# and exports to one or two letters (and optimizes again as index.html asks, since the
# renaming alone re-encodes the code larger), the JS glue is renamed to match and loses its
# comments and indentation, and index.html gets the new integrity (SRI) hashes of both
# files. Every name is checked to have been renamed, and every export the glue reads to
# exist; otherwise the build fails.
# (index.html asks wasm-opt for -Os and a relooped second round: a larger wasm than
# -Oz, but one that brotli packs 2.5 KB smaller. The low 1 KB of memory is the bottom
# of Rust's stack, reached only by an overflow.)
#
# Then it writes .gz (gzip -9) and .br (brotli -q 11) beside each page file, so the
# server sends them to browsers that accept them.
set -euo pipefail
dir="${1:?usage: precompress.sh DIR}"

# The integrity value of a file, as index.html carries it: sha384, base64.
sri() {
  if command -v openssl >/dev/null; then
    openssl dgst -sha384 -binary "$1" | base64 -w0
  else
    sha384sum "$1" | cut -d' ' -f1 | tr a-f A-F | basenc --base16 -d | base64 -w0
  fi
}

shorten() {
  local wasm js html work
  wasm=$(echo "$dir"/*_bg.wasm)
  js="${wasm%_bg.wasm}.js"
  html="$dir/index.html"
  if ! [ -f "$wasm" ] || ! [ -f "$js" ] || ! [ -f "$html" ]; then
    echo "precompress: no single wasm, JS glue and index.html in $dir" >&2
    return 1
  fi
  local old_wasm_sri old_js_sri
  old_wasm_sri=$(sri "$wasm")
  old_js_sri=$(sri "$js")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN

  # wasm-streams, which leptos's server functions bring along, exports three classes that
  # adapt Rust streams to the browser's ReadableStream and WritableStream. This page never
  # makes one, but an export keeps its code: their exports go from the wasm (1.3 KB brotli)
  # and their classes from the glue, and the build fails if the glue still names one.
  # (binaryen's own wasm-opt has --remove-exports; the older one cargo installs where npm is
  # missing may not, and then both stay.)
  local remove=() passes
  passes=$(wasm-opt --help 2>/dev/null || true)
  if [[ "$passes" != *--remove-exports* ]]; then
    echo "precompress: this wasm-opt cannot remove exports, so the stream classes stay" >&2
    cp "$js" "$work/glue.js"
  else
    remove=(--remove-exports='intounderlying*' --remove-exports='__wbg_intounderlying*')
    sed -E \
      -e '/^export class IntoUnderlying[A-Za-z]* \{$/,/^\}$/d' \
      -e '/^if \(Symbol\.dispose\) IntoUnderlying/d' \
      -e '/^const IntoUnderlying[A-Za-z]*Finalization = .*;$/d' \
      -e '/^const IntoUnderlying[A-Za-z]*Finalization = /,/;$/d' \
      -e '/^const __wbindgen_enum_ReadableStreamType = /d' \
      "$js" > "$work/glue.js"
    if grep -qE 'IntoUnderlying|__wbindgen_enum_ReadableStreamType' "$work/glue.js"; then
      echo "precompress: the glue still names a stream class after they were taken out" >&2
      return 1
    fi
  fi

  # The mapping wasm-opt prints: binaryen 132's, imports as ["module", "old", "new"], exports
  # as ["old", "new"]; every import module becomes "a".
  wasm-opt "$wasm" "${remove[@]}" -Os --low-memory-unused --minify-imports-and-exports-and-modules \
    -o "$work/out.wasm" > "$work/map"
  sed -nE 's/^  \["[^"]+", "([A-Za-z0-9_$]+)", "([A-Za-z0-9_$]+)"\],?$/\1 \2/p' "$work/map" > "$work/imports"
  sed -nE 's/^  \["([A-Za-z0-9_$]+)", "([A-Za-z0-9_$]+)"\],?$/\1 \2/p' "$work/map" > "$work/exports"
  if ! [ -s "$work/imports" ] && ! [ -s "$work/exports" ]; then
    # binaryen 116 (the wasm-opt crate's, where npm is missing) prints `old => new` for
    # imports and exports alike: the glue says which each is.
    local name renamed
    while read -r name renamed; do
      if grep -qE "^ *$name:" "$work/glue.js"; then
        echo "$name $renamed" >> "$work/imports"
      elif grep -qE "wasm\.$name\b" "$work/glue.js"; then
        echo "$name $renamed" >> "$work/exports"
      fi
    done < <(sed -nE 's/^([A-Za-z0-9_$]+) => ([A-Za-z0-9_$]+)$/\1 \2/p' "$work/map")
  fi
  if ! [ -s "$work/imports" ] || ! [ -s "$work/exports" ]; then
    echo "precompress: wasm-opt printed no mapping of names" >&2
    return 1
  fi

  # In the glue an import is a key of the imports object, on a line of its own, and an
  # export is read as `wasm.name`.
  {
    while read -r old new; do echo "s/^( *)$old:/\\1$new:/"; done < "$work/imports"
    while read -r old new; do echo "s/wasm\\.$old\\b/wasm.$new/g"; done < "$work/exports"
    echo 's/^( *)"[^"]+": import0,$/\1a: import0,/'
  } > "$work/rename.sed"
  sed -E -f "$work/rename.sed" "$work/glue.js" > "$work/renamed.js"
  local old left=0
  while read -r old _; do
    if grep -qE "^ *$old:" "$work/renamed.js"; then
      echo "precompress: import $old not renamed" >&2
      left=1
    fi
  done < "$work/imports"
  while read -r old _; do
    if grep -qE "wasm\\.$old\\b" "$work/renamed.js"; then
      echo "precompress: export $old not renamed" >&2
      left=1
    fi
  done < "$work/exports"
  if ! grep -qE '^ *a: import0,$' "$work/renamed.js"; then
    echo "precompress: the import module not renamed" >&2
    left=1
  fi
  # And the glue reads no export the wasm no longer has.
  local used exported
  exported=$(cut -d' ' -f2 "$work/exports")
  for used in $(grep -oE 'wasm\.[A-Za-z0-9_$]+' "$work/renamed.js" | sort -u | cut -d. -f2); do
    if ! grep -qxF "$used" <<< "$exported"; then
      echo "precompress: the glue reads wasm.$used, which the wasm does not export" >&2
      left=1
    fi
  done
  [ "$left" = 0 ] || return 1

  # Comments and indentation: a JSDoc block or a // comment on lines of its own (the glue
  # has no string spanning lines, so none is inside one), then leading blanks and blank lines.
  sed -E \
    -e '/^[[:space:]]*\/\*\*.*\*\/[[:space:]]*$/d' \
    -e '/^[[:space:]]*\/\*\*/,/\*\//d' \
    -e '/^[[:space:]]*\/\//d' \
    -e 's/^[[:space:]]+//' \
    -e '/^$/d' \
    "$work/renamed.js" > "$work/short.js"
  # What sed took out must leave JavaScript that parses (node is on the machine for the
  # wasm-opt of npm; without it this check is skipped).
  if command -v node >/dev/null; then
    cp "$work/short.js" "$work/short.mjs"
    if ! node --check "$work/short.mjs"; then
      echo "precompress: the shortened glue does not parse" >&2
      return 1
    fi
  fi
  cp "$work/short.js" "$js"
  cp "$work/out.wasm" "$wasm"

  local new_wasm_sri new_js_sri
  new_wasm_sri=$(sri "$wasm")
  new_js_sri=$(sri "$js")
  if ! grep -qF "sha384-$old_wasm_sri" "$html" || ! grep -qF "sha384-$old_js_sri" "$html"; then
    echo "precompress: index.html lacks the integrity of the wasm or the glue" >&2
    return 1
  fi
  sed -i -e "s|sha384-$old_wasm_sri|sha384-$new_wasm_sri|" -e "s|sha384-$old_js_sri|sha384-$new_js_sri|" "$html"
}

if [ "${TRUNK_PROFILE:-}" = release ]; then
  if command -v wasm-opt >/dev/null; then
    shorten
  else
    echo "precompress: wasm-opt is not on PATH, so the names stay long" >&2
  fi
fi

have_brotli=false
command -v brotli >/dev/null && have_brotli=true
for file in "$dir"/*.js "$dir"/*.wasm "$dir"/*.css; do
  [ -f "$file" ] || continue
  gzip -9 -k -f -n "$file"
  if $have_brotli; then brotli -q 11 -k -f "$file"; fi
done
$have_brotli || echo "precompress: brotli is not installed, so only .gz files were written" >&2
