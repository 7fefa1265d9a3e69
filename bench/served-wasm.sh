# Sourced by bench/wasm-size and bench/wasm-floor: a WebAssembly as a release serves it, and its
# size as a browser receives it, made the same way for both so their figures compare.

# The `wasm-opt` flags cargo-leptos' release build uses.
WASM_OPT_FLAGS=(-Oz --enable-bulk-memory --enable-nontrapping-float-to-int)

# served_wasm WASM DIR: wasm-bindgen's JS and WASM for the browser into DIR, then DIR/served.wasm
# optimised as served (and, with `named`, DIR/named.wasm keeping function names for twiggy).
served_wasm() {
  local wasm="$1" dir="$2" bound
  wasm-bindgen --target web --no-typescript --out-dir "$dir" "$wasm"
  bound="$dir/$(basename "$wasm" .wasm)_bg.wasm"
  wasm-opt "${WASM_OPT_FLAGS[@]}" "$bound" -o "$dir/served.wasm"
  if [ "${3:-}" = named ]; then
    wasm-opt "${WASM_OPT_FLAGS[@]}" -g "$bound" -o "$dir/named.wasm"
  fi
}

# brotli_sizes FILE...: a line per file, "name<TAB>bytes<TAB>brotli bytes" (quality 11, as the
# build precompresses).
brotli_sizes() {
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    for (const f of process.argv.slice(1)) {
      const raw = fs.readFileSync(f);
      const br = zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
      console.log(`${f.split("/").pop()}\t${raw.length}\t${br.length}`);
    }' "$@"
}
