#!/bin/sh
# Installs the C library without cargo-c, in the layout cargo-c uses:
# libnickpool.so.VERSION (SONAME libnickpool.so.1, stripped) with the links
# libnickpool.so.1 and libnickpool.so, libnickpool.a (one object; only the
# nickpool_ functions global: see static-archive.sh), nickpool.h,
# nickpool.hpp and a relocatable nickpool.pc.
#
#   packaging/install.sh [--prefix DIR] [--libdir DIR] [--includedir DIR] [--from DIR] [--no-strip]
#
#   --prefix DIR      install under DIR (default /usr/local)
#   --libdir DIR      libraries and pkgconfig/ (default PREFIX/lib)
#   --includedir DIR  headers (default PREFIX/include)
#   --from DIR        take the built libraries from DIR instead of running
#                     `cargo build --release -p nickpool` and using target/release
#   --no-strip        keep the shared library's symbol table and debug info
#                     (for packagers who split debug info themselves)
#   DESTDIR=/stage    prepended to every path, for packagers
#   STRIP=PROGRAM     the strip for the installed libnickpool.so (default strip)
#
# Afterwards (for a system prefix) run `ldconfig`, then build programs with
#   cc app.c $(pkg-config --cflags --libs nickpool)
#   cc -static app.c $(pkg-config --cflags --static --libs nickpool)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
libdir=
includedir=
from=
strip=yes

usage() {
  sed -n '2,22s/^# \{0,1\}//p' "$0" >&2
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
    --no-strip) strip=no; shift ;;
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

# The library's version is the crate's (1.1.0); the SONAME carries the C
# ABI version, its major number (see build.rs). Same names as cargo-c.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
soname=libnickpool.so.${version%%.*}
real=libnickpool.so.$version

# A directory under the prefix is written relative to it in the .pc, so the
# installed tree can be moved (pkg-config --define-prefix).
relative_to_prefix() {
  case $1 in
    "$prefix") echo '${prefix}' ;;
    "$prefix"/*) echo "\${prefix}/${1#"$prefix"/}" ;;
    *) echo "$1" ;;
  esac
}

install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 0755 "$from/libnickpool.so" "$destdir$libdir/$real"
if [ "$strip" = yes ]; then
  ${STRIP:-strip} --strip-unneeded "$destdir$libdir/$real"
fi
ln -sf "$real" "$destdir$libdir/$soname"
ln -sf "$real" "$destdir$libdir/libnickpool.so"
sh "$root/packaging/static-archive.sh" "$from/libnickpool.a" "$destdir$libdir/libnickpool.a"
chmod 0644 "$destdir$libdir/libnickpool.a"
install -m 0644 "$root/include/nickpool.h" "$root/include/nickpool.hpp" "$destdir$includedir/"
pc_libdir=$(relative_to_prefix "$libdir")
pc_includedir=$(relative_to_prefix "$includedir")
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$pc_libdir|g" \
    -e "s|@INCLUDEDIR@|$pc_includedir|g" -e "s|@VERSION@|$version|g" \
    "$root/packaging/nickpool.pc.in" > "$destdir$libdir/pkgconfig/nickpool.pc"
chmod 0644 "$destdir$libdir/pkgconfig/nickpool.pc"

echo "installed nickpool $version into $destdir$prefix:"
echo "  $libdir/$real (+ $soname, libnickpool.so), $libdir/libnickpool.a"
echo "  $includedir/nickpool.h, $includedir/nickpool.hpp"
echo "  $libdir/pkgconfig/nickpool.pc"
