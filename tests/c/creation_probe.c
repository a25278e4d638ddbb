/*
 * LD_PRELOAD probe for tests/security.rs: records the owner group and mode
 * of the daemon's new segment after every call that creates it or changes
 * them, so the test can check that the file never grants a group anything
 * while it belongs to another group.
 *
 * It wraps open, open64, openat, openat64 (creating a file whose path starts
 * with $NICKPOOL_PROBE_PREFIX), fchmod and fchown (on a descriptor so
 * created), and appends "CALL GID MODE" (MODE in octal, after the call) to
 * the file $NICKPOOL_PROBE_LOG, one line per call.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TRACKED 4096
static unsigned char tracked[MAX_TRACKED];

static void record(const char *call, int fd) {
  struct stat st;
  const char *log = getenv("NICKPOOL_PROBE_LOG");
  if (log == NULL || fd < 0 || fd >= MAX_TRACKED || !tracked[fd] || fstat(fd, &st) != 0) {
    return;
  }
  FILE *out = fopen(log, "ae");
  if (out != NULL) {
    fprintf(out, "%s %u %o\n", call, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
    fclose(out);
  }
}

static void created(const char *call, const char *path, int flags, int fd) {
  const char *prefix = getenv("NICKPOOL_PROBE_PREFIX");
  if (fd < 0 || fd >= MAX_TRACKED || prefix == NULL || !(flags & O_CREAT) ||
      strncmp(path, prefix, strlen(prefix)) != 0) {
    return;
  }
  tracked[fd] = 1;
  record(call, fd);
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*fchmod_fn)(int, mode_t);
typedef int (*fchown_fn)(int, uid_t, gid_t);

/* The next definition of NAME (libc's). dlsym returns an object pointer;
 * POSIX guarantees it converts to a function pointer, which ISO C cannot
 * say: copy it through a variable of the function pointer's type. */
#define REAL(type, name) \
  type real;             \
  *(void **)(&real) = dlsym(RTLD_NEXT, name)

static mode_t mode_arg(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, unsigned) : 0;
}

int open(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  REAL(open_fn, "open");
  int fd = real(path, flags, mode);
  created("open", path, flags, fd);
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  REAL(open_fn, "open64");
  int fd = real(path, flags, mode);
  created("open", path, flags, fd);
  return fd;
}

int openat(int dir, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  REAL(openat_fn, "openat");
  int fd = real(dir, path, flags, mode);
  created("open", path, flags, fd);
  return fd;
}

int openat64(int dir, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  REAL(openat_fn, "openat64");
  int fd = real(dir, path, flags, mode);
  created("open", path, flags, fd);
  return fd;
}

int fchmod(int fd, mode_t mode) {
  REAL(fchmod_fn, "fchmod");
  int rc = real(fd, mode);
  record("fchmod", fd);
  return rc;
}

int fchown(int fd, uid_t owner, gid_t group) {
  REAL(fchown_fn, "fchown");
  int rc = real(fd, owner, group);
  record("fchown", fd);
  return rc;
}
