/*
 * nickpool_last_error() after each kind of failure, checked from C against
 * a live daemon.
 *
 *   last_error LIVE MISSING INCOMPATIBLE WRITABLE
 *   last_error denied NAME
 *
 * LIVE is served by `nickpool serve --capacity 4` and this program is its
 * only consumer; MISSING has never been served; INCOMPATIBLE is a segment
 * file of another (later) layout version, 3; WRITABLE is a file every user
 * may write. Midway the program prints "stop" and waits for a line on stdin
 * (the test then stops the daemon with SIGSTOP), later "kill" (the test
 * then kills it with SIGKILL). Each failure's message is printed as
 * "message STATUS TEXT" for the test to compare with `nickpool pull`. Ends
 * with "last_error: N checks passed" and exit 0, or names the first failed
 * check and exits 1.
 *
 * "denied NAME" (run as a user the segment is closed to) checks only the
 * PERMISSION_DENIED message.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nickpool.h"

static int checks;

#define EXPECT(cond)                                                                 \
  do {                                                                               \
    checks++;                                                                        \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "last_error.c:%d: check failed: %s\n  last error: %s\n", __LINE__, \
              #cond, nickpool_last_error());                                         \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

#define EXPECT_STATUS(call, want)                                                    \
  do {                                                                               \
    nickpool_status got_ = (call);                                                   \
    checks++;                                                                        \
    if (got_ != (want)) {                                                            \
      fprintf(stderr, "last_error.c:%d: %s returned %u (%s), expected %s\n", __LINE__, \
              #call, (unsigned)got_, nickpool_last_error(), #want);                  \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* The last error contains `part`. */
#define EXPECT_MESSAGE(part) EXPECT(strstr(nickpool_last_error(), (part)) != NULL)

#define SLOT (NICKPOOL_MAX_NICKNAME_LEN + 1)
#define LONG_WAIT 5000 /* ms: generous; only reached if something is wrong */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void report(const char *status) {
  printf("message %s %s\n", status, nickpool_last_error());
  fflush(stdout);
}

/* Prints `what` and waits for the test to act and answer with a line. */
static void handshake(const char *what) {
  char line[16];
  printf("%s\n", what);
  fflush(stdout);
  EXPECT(fgets(line, sizeof line, stdin) != NULL);
}

static void *read_last_error(void *out) {
  *(const char **)out = nickpool_last_error();
  return NULL;
}

static void open_failures(const char *missing, const char *incompatible, const char *writable) {
  char path[300];
  nickpool_client *np = NULL;

  EXPECT_STATUS(nickpool_open(missing, &np), NICKPOOL_NOT_RUNNING);
  EXPECT_MESSAGE(missing);
  snprintf(path, sizeof path, "/dev/shm%s", missing);
  EXPECT_MESSAGE(path);
  EXPECT_MESSAGE("does not exist");
  EXPECT_MESSAGE("nickpool serve --name");
  report("NICKPOOL_NOT_RUNNING");

  /* Another thread has its own last error: nothing failed there yet. */
  const char *theirs = NULL;
  pthread_t thread;
  EXPECT(pthread_create(&thread, NULL, read_last_error, &theirs) == 0);
  EXPECT(pthread_join(thread, NULL) == 0);
  EXPECT(theirs != NULL && strcmp(theirs, "") == 0);
  EXPECT_MESSAGE(missing); /* and ours is untouched */

  EXPECT_STATUS(nickpool_open(incompatible, &np), NICKPOOL_INCOMPATIBLE);
  snprintf(path, sizeof path, "/dev/shm%s", incompatible);
  EXPECT_MESSAGE(path);
  EXPECT_MESSAGE("layout version 3");
  EXPECT_MESSAGE("same release");
  report("NICKPOOL_INCOMPATIBLE");

  EXPECT_STATUS(nickpool_open(writable, &np), NICKPOOL_PERMISSION_DENIED);
  snprintf(path, sizeof path, "/dev/shm%s", writable);
  EXPECT_MESSAGE(path);
  EXPECT_MESSAGE("writable by every user");
  EXPECT_MESSAGE("--mode 0600");
  report("NICKPOOL_PERMISSION_DENIED");

  EXPECT_STATUS(nickpool_open(missing, NULL), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_open: out_client is NULL");
  EXPECT_STATUS(nickpool_open("no-slash", &np), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("invalid segment name \"no-slash\"");
  EXPECT_MESSAGE("must start with '/'");
  report("NICKPOOL_INVALID_ARGUMENT");
}

static void argument_failures(nickpool_client *np) {
  char buf[SLOT];
  size_t n = 0;
  EXPECT_STATUS(nickpool_next(np, NULL, sizeof buf, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_next: buf is NULL");
  EXPECT_STATUS(nickpool_next(np, buf, 0, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_next: buf_len is 0");
  EXPECT_STATUS(nickpool_next(NULL, buf, sizeof buf, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_next: client is NULL");
  EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 0, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_next_batch: max_count is 0");
  EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 1, NULL, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_next_batch: out_count is NULL");
  struct nickpool_stats st;
  st.size = 3;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_MESSAGE("nickpool_stats: out->size is 3");
  EXPECT_MESSAGE("sizeof(struct nickpool_stats)");
}

static void buffer_too_small(nickpool_client *np) {
  char buf[SLOT];
  size_t needed = 0;
  EXPECT_STATUS(nickpool_next(np, buf, 2, &needed, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  char want[64];
  snprintf(want, sizeof want, "buf_len is 2 bytes, the next nickname needs %zu", needed);
  EXPECT_MESSAGE(want);
  EXPECT_MESSAGE("nothing was consumed");
  report("NICKPOOL_BUFFER_TOO_SMALL");

  size_t count = 0;
  EXPECT_STATUS(nickpool_next_batch(np, buf, 2, 4, &count, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  EXPECT_MESSAGE("nickpool_next_batch: buf_len is 2 bytes");
}

/* A successful call leaves the last error as it was: same text, same
 * pointer. */
static void success_leaves_it(nickpool_client *np) {
  char buf[SLOT];
  size_t len = 0;
  EXPECT_STATUS(nickpool_next(np, buf, 1, &len, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  const char *before = nickpool_last_error();
  char copy[512];
  snprintf(copy, sizeof copy, "%s", before);
  EXPECT_STATUS(nickpool_next(np, buf, sizeof buf, &len, LONG_WAIT), NICKPOOL_OK);
  struct nickpool_stats st;
  st.size = sizeof st;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_OK);
  EXPECT(nickpool_last_error() == before);
  EXPECT(strcmp(before, copy) == 0);
  /* Functions without a status leave it too. */
  nickpool_close(NULL);
  EXPECT(nickpool_status_str(NICKPOOL_EMPTY) != NULL);
  EXPECT(nickpool_version() != NULL);
  EXPECT(strcmp(nickpool_last_error(), copy) == 0);
}

/* The daemon is stopped (SIGSTOP): once the ring is drained, EMPTY. */
static void empty(nickpool_client *np) {
  char buf[SLOT];
  size_t len = 0;
  nickpool_status st;
  int drained = 0;
  while ((st = nickpool_next(np, buf, sizeof buf, &len, 0)) == NICKPOOL_OK) {
    EXPECT(++drained <= 4);
  }
  EXPECT(st == NICKPOOL_EMPTY);
  EXPECT_MESSAGE("no nickname became available within the timeout");
  EXPECT_STATUS(nickpool_next(np, buf, sizeof buf, &len, 50), NICKPOOL_EMPTY);
  report("NICKPOOL_EMPTY");
}

/* The daemon is dead (SIGKILL): DAEMON_GONE, once the timeout has run out. */
static void daemon_gone(nickpool_client *np, const char *live) {
  char buf[SLOT];
  size_t len = 0;
  EXPECT_STATUS(nickpool_next(np, buf, sizeof buf, &len, 0), NICKPOOL_DAEMON_GONE);
  EXPECT_MESSAGE(live);
  EXPECT_MESSAGE("is gone");
  EXPECT_MESSAGE("nickpool serve --name");
  report("NICKPOOL_DAEMON_GONE");

  double t0 = now_ms();
  EXPECT_STATUS(nickpool_next(np, buf, sizeof buf, &len, 150), NICKPOOL_DAEMON_GONE);
  EXPECT(now_ms() - t0 >= 150.0);
  EXPECT_MESSAGE("no new daemon started on the name within 150 ms");

  size_t count = 0;
  EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 1, &count, 20), NICKPOOL_DAEMON_GONE);
  EXPECT_MESSAGE("within 20 ms");

  struct nickpool_stats st;
  st.size = sizeof st;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_DAEMON_GONE);
  EXPECT_MESSAGE(live);
}

int main(int argc, char **argv) {
  /* Before anything failed: the empty string, never NULL. */
  EXPECT(nickpool_last_error() != NULL);
  EXPECT(strcmp(nickpool_last_error(), "") == 0);

  if (argc == 3 && strcmp(argv[1], "denied") == 0) {
    char path[300];
    nickpool_client *np = NULL;
    EXPECT_STATUS(nickpool_open(argv[2], &np), NICKPOOL_PERMISSION_DENIED);
    snprintf(path, sizeof path, "permission denied opening /dev/shm%s", argv[2]);
    EXPECT_MESSAGE(path);
    EXPECT_MESSAGE("os error 13");
    EXPECT_MESSAGE("this process runs as uid");
    EXPECT_MESSAGE("--mode 0660 --group GROUP");
    report("NICKPOOL_PERMISSION_DENIED");
    printf("last_error: %d checks passed\n", checks);
    return 0;
  }
  if (argc != 5) {
    fprintf(stderr, "usage: last_error LIVE MISSING INCOMPATIBLE WRITABLE | denied NAME\n");
    return 2;
  }
  const char *live = argv[1];
  open_failures(argv[2], argv[3], argv[4]);

  nickpool_client *np = NULL;
  EXPECT_STATUS(nickpool_open(live, &np), NICKPOOL_OK);
  /* Success left the last failure's message in place. */
  EXPECT_MESSAGE("invalid segment name \"no-slash\"");
  argument_failures(np);
  buffer_too_small(np);
  success_leaves_it(np);

  handshake("stop");
  empty(np);
  handshake("kill");
  daemon_gone(np, live);
  nickpool_close(np);

  printf("last_error: %d checks passed\n", checks);
  return 0;
}
