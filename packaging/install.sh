#!/bin/sh
# Installs the C library without cargo-c: libnickpool.so (SONAME
# libnickpool.so.1), libnickpool.a, nickpool.h, nickpool.hpp and nickpool.pc.
#
#   packaging/install.sh [--prefix DIR] [--libdir DIR] [--includedir DIR] [--from DIR]
#
#   --prefix DIR      install under DIR (default /usr/local)
#   --libdir DIR      libraries and pkgconfig/ (default PREFIX/lib)
#   --includedir DIR  headers (default PREFIX/include)
#   --from DIR        take the built libraries from DIR instead of running
#                     `cargo build --release -p nickpool` and using target/release
#   DESTDIR=/stage    prepended to every path, for packagers
#   STRIP=PROGRAM     the strip for the installed libnickpool.so (default strip)
#
# Afterwards (for a system prefix) run `ldconfig`, then build programs with
#   cc app.c $(pkg-config --cflags --libs nickpool)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
libdir=
includedir=
from=

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --libdir) [ $# -ge 2 ] || usage; libdir=$2; shift 2 ;;
    --libdir=*) libdir=${1#*=}; shift ;;
    --includedir) [ $# -ge 2 ] || usage; includedir=$2; shift 2 ;;
    --includedir=*) includedir=${1#*=}; shift ;;
    --from) [ $# -ge 2 ] || usage; from=$2; shift 2 ;;
    --from=*) from=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
libdir=${libdir:-$prefix/lib}
includedir=${includedir:-$prefix/include}
destdir=${DESTDIR:-}

if [ -z "$from" ]; then
  (cd "$root" && cargo build --release -p nickpool --lib)
  from=${CARGO_TARGET_DIR:-$root/target}/release
fi
for f in libnickpool.so libnickpool.a; do
  if [ ! -f "$from/$f" ]; then
    echo "install.sh: $from/$f not found; build with 'cargo build --release -p nickpool' or pass --from DIR" >&2
    exit 1
  fi
done

# The SONAME carries the C ABI version (see build.rs).
soname=libnickpool.so.1
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)

install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 0755 "$from/libnickpool.so" "$destdir$libdir/$soname"
# Debug info is most of a release build's size; the exported functions stay.
"${STRIP:-strip}" --strip-unneeded "$destdir$libdir/$soname"
ln -sf "$soname" "$destdir$libdir/libnickpool.so"
install -m 0644 "$from/libnickpool.a" "$destdir$libdir/libnickpool.a"
install -m 0644 "$root/include/nickpool.h" "$root/include/nickpool.hpp" "$destdir$includedir/"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" \
    -e "s|@INCLUDEDIR@|$includedir|g" -e "s|@VERSION@|$version|g" \
    "$root/packaging/nickpool.pc.in" > "$destdir$libdir/pkgconfig/nickpool.pc"
chmod 0644 "$destdir$libdir/pkgconfig/nickpool.pc"

echo "installed nickpool $version into $destdir$prefix:"
echo "  $libdir/$soname (+ libnickpool.so), $libdir/libnickpool.a"
echo "  $includedir/nickpool.h, $includedir/nickpool.hpp"
echo "  $libdir/pkgconfig/nickpool.pc"
