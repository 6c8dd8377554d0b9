#!/bin/sh
# Builds a native executable from a packaged slimedge command (tools/command.ts buildCommand, scalar build):
#   wasm2c translates the module to C, and a C compiler links it with wabt's wasm-rt runtime and the WASI
#   shim in wasi.c (the five calls the command imports, on POSIX).
#
#   boards/wasi/build-native.sh model.cmd.wasm model-native
#   ./model-native "Once upon a time" -n 64 --temp 0
#
# Needs wasm2c and wasm-validate (Debian/Ubuntu: apt-get install wabt; written against wabt 1.0.32, whose
# runtime sources live in /usr/share/wabt/wasm2c) and a C compiler ($CC, default cc). wasm2c 1.0.32 cannot
# translate 128-bit SIMD: package the scalar build. The weights become a C array, so large models make a
# large C file; -ffp-contract=off keeps every f32 operation rounded as WebAssembly rounds it (no fused
# multiply-add), so the native binary prints the same tokens as any WASI runtime.
set -eu

die() {
  echo "build-native: $*" >&2
  exit 1
}

[ $# -eq 2 ] || die "usage: build-native.sh <command.wasm> <out-binary>"
wasm=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}

[ -f "$wasm" ] || die "$wasm: no such file"
command -v wasm2c >/dev/null 2>&1 || die "wasm2c not found; install wabt (apt-get install wabt)"
command -v wasm-validate >/dev/null 2>&1 || die "wasm-validate not found; install wabt (apt-get install wabt)"
command -v "$cc" >/dev/null 2>&1 || die "C compiler '$cc' not found; install gcc or set CC"

rt=${WASM_RT_DIR:-}
if [ -z "$rt" ]; then
  for d in /usr/share/wabt/wasm2c /usr/src/wasm2c /usr/local/share/wabt/wasm2c; do
    if [ -f "$d/wasm-rt-impl.c" ]; then rt=$d && break; fi
  done
fi
[ -n "$rt" ] && [ -f "$rt/wasm-rt-impl.c" ] || die "wasm-rt-impl.c (wabt's wasm2c runtime) not found; set WASM_RT_DIR to the folder holding it"
inc=$rt
[ -f "$inc/wasm-rt.h" ] || inc=/usr/include
[ -f "$inc/wasm-rt.h" ] || die "wasm-rt.h not found next to $rt/wasm-rt-impl.c or in /usr/include"

if ! wasm-validate --disable-simd "$wasm" >/dev/null 2>&1; then
  if wasm-validate "$wasm" >/dev/null 2>&1; then
    die "$wasm uses 128-bit SIMD, which wasm2c $(wasm2c --version) cannot translate; package the scalar build ({ build: \"scalar\" })"
  fi
  die "$wasm is not a valid WebAssembly module"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
wasm2c "$wasm" -n command -o "$tmp/command.c" || die "wasm2c failed on $wasm"
grep -q 'Z_commandZ__start' "$tmp/command.h" ||
  die "wasm2c $(wasm2c --version) names its exports differently from wasm2c 1.0.32, which wasi.c is written for"
"$cc" -O2 -ffp-contract=off -I"$tmp" -I"$inc" -I"$rt" -o "$out" \
  "$tmp/command.c" "$rt/wasm-rt-impl.c" "$here/wasi.c" -lm ||
  die "$cc failed to compile the translated module"
