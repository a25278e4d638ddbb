#!/bin/sh
# Turns the static library cargo builds (target/release/libnickpool.a: one
# member per Rust object, the Rust standard library and every dependency
# included, thousands of global Rust symbols) into the one C programs link:
# a single object in which only the nickpool_ functions are global.
#
#   packaging/static-archive.sh IN.a OUT.a
#
# 1. Partial link (ld -r) of every member, keeping only what the nickpool_
#    functions reach (--gc-sections from them): code a client never calls
#    (and its references to getaddrinfo, getpwuid_r, ...) is dropped, so
#    `gcc -static` pulls no such parts of libc and warns about nothing.
# 2. Every other symbol is made local and unreferenced ones are dropped,
#    and debug info and embedded LLVM bitcode are removed.
#
# Two Rust static libraries can then sit in one program, even linked with
# --whole-archive: this one exports nothing of Rust's. packaging/install.sh
# runs this script; after `cargo cinstall`, run it on the installed
# archive: packaging/static-archive.sh LIBDIR/libnickpool.a LIBDIR/libnickpool.a
#
# Needs binutils (ld, objcopy, readelf, ar), or $LD, $OBJCOPY, $READELF, $AR.
set -eu

if [ $# -ne 2 ]; then
  sed -n '2,20s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
in=$1
out=$2
ld=${LD:-ld}
objcopy=${OBJCOPY:-objcopy}
readelf=${READELF:-readelf}
ar=${AR:-ar}

if [ ! -f "$in" ]; then
  echo "static-archive.sh: $in not found; build it with 'cargo build --release --lib'" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nickpool-archive.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# The exported functions, as the objects name them (with their symbol
# version, e.g. nickpool_open@@NICKPOOL_1.0, where the build versions them).
"$readelf" -sW "$in" |
  awk '$4 == "FUNC" && $5 == "GLOBAL" && $7 != "UND" && $8 ~ /^nickpool_/ { print $8 }' |
  sort -u > "$work/exports"
if [ ! -s "$work/exports" ]; then
  echo "static-archive.sh: $in defines no nickpool_ function; is it libnickpool.a?" >&2
  exit 1
fi
roots=$(sed 's/^/-u /' "$work/exports")

# shellcheck disable=SC2086 # $roots is a list of options.
"$ld" -r --whole-archive "$in" --no-whole-archive --gc-sections $roots \
  --force-group-allocation -o "$work/combined.o"
"$objcopy" --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd \
  --wildcard --keep-global-symbol='nickpool_*' "$work/combined.o" "$work/local.o"
# Drops the symbols nothing refers to any more, among them undefined ones
# (libc functions only dropped code called) that would otherwise still pull
# members of libc.a into a static program.
"$objcopy" --strip-unneeded "$work/local.o" "$work/nickpool.o"

# Check: every defined global symbol is a nickpool_ function.
others=$("$readelf" -sW "$work/nickpool.o" |
  awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && $8 !~ /^nickpool_/ { print $8 }')
if [ -n "$others" ]; then
  echo "static-archive.sh: symbols other than nickpool_ stayed global:" >&2
  echo "$others" >&2
  exit 1
fi

rm -f "$work/out.a"
"$ar" rcsD "$work/out.a" "$work/nickpool.o"
cp "$work/out.a" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
