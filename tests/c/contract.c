/*
 * The C ABI contract, checked from C against a live daemon.
 *
 *   contract LIVE MISSING INCOMPATIBLE
 *
 * LIVE is served by `nickpool serve --capacity 4 --test-tag` (one shard;
 * every nickname ends in "#0.<position>", so the checks can tell exactly
 * which nicknames were consumed), MISSING has never been served, INCOMPATIBLE is a segment
 * file of another layout version. This program is the only consumer of LIVE.
 * Prints "contract: N checks passed" and exits 0, or names the first failed
 * check and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nickpool.h"

static int checks;

#define EXPECT(cond)                                                              \
  do {                                                                            \
    checks++;                                                                     \
    if (!(cond)) {                                                                \
      fprintf(stderr, "contract.c:%d: check failed: %s\n", __LINE__, #cond);      \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

#define EXPECT_STATUS(call, want)                                                 \
  do {                                                                            \
    nickpool_status got_ = (call);                                                \
    checks++;                                                                     \
    if (got_ != (want)) {                                                         \
      fprintf(stderr, "contract.c:%d: %s returned %u (%s), expected %s\n", __LINE__, \
              #call, (unsigned)got_, nickpool_status_str(got_), #want);           \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

#define SLOT (NICKPOOL_MAX_NICKNAME_LEN + 1)
#define LONG_WAIT 5000 /* ms: generous; only reached if something is wrong */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The position a --test-tag nickname carries ("#<shard>.<position>"; LIVE
 * has one shard, 0). */
static unsigned long long position(const char *nick) {
  const char *hash = strrchr(nick, '#');
  EXPECT(hash != NULL && strncmp(hash, "#0.", 3) == 0 && hash[3] != '\0');
  return strtoull(hash + 3, NULL, 10);
}

static uint64_t consumed(nickpool_client *np) {
  struct nickpool_stats st;
  st.size = sizeof st;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_OK);
  return st.consumed;
}

static void open_checks(const char *missing, const char *incompatible) {
  nickpool_client *np = (nickpool_client *)&checks; /* must be reset to NULL */
  EXPECT_STATUS(nickpool_open("/x", NULL), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_open("", &np), NICKPOOL_INVALID_ARGUMENT);
  EXPECT(np == NULL);
  const char *malformed[] = {"nickpool", "/", "/a/b", "/.hidden", "/sp ace", "/\xff\xfe", "/名字"};
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    np = (nickpool_client *)&checks;
    EXPECT_STATUS(nickpool_open(malformed[i], &np), NICKPOOL_INVALID_ARGUMENT);
    EXPECT(np == NULL);
  }
  /* 200 bytes is the longest valid name; 201 and far longer are invalid. */
  char name[4096];
  memset(name, 'x', sizeof name);
  name[0] = '/';
  name[200] = '\0';
  EXPECT_STATUS(nickpool_open(name, &np), NICKPOOL_NOT_RUNNING);
  name[200] = 'x';
  name[201] = '\0';
  EXPECT_STATUS(nickpool_open(name, &np), NICKPOOL_INVALID_ARGUMENT);
  name[201] = 'x';
  name[sizeof name - 1] = '\0';
  EXPECT_STATUS(nickpool_open(name, &np), NICKPOOL_INVALID_ARGUMENT);

  np = (nickpool_client *)&checks;
  EXPECT_STATUS(nickpool_open(missing, &np), NICKPOOL_NOT_RUNNING);
  EXPECT(np == NULL);
  EXPECT_STATUS(nickpool_open(incompatible, &np), NICKPOOL_INCOMPATIBLE);
  EXPECT(np == NULL);
}

static void argument_checks(nickpool_client *np) {
  char buf[SLOT];
  size_t n = 99;
  EXPECT_STATUS(nickpool_next(NULL, buf, sizeof buf, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT(n == 0);
  EXPECT_STATUS(nickpool_next(np, NULL, sizeof buf, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_next(np, buf, sizeof buf, NULL, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_next(np, buf, 0, &n, 0), NICKPOOL_INVALID_ARGUMENT);

  EXPECT_STATUS(nickpool_next_batch(NULL, buf, sizeof buf, 1, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_next_batch(np, NULL, sizeof buf, 1, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 1, NULL, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_next_batch(np, buf, 0, 1, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  n = 99;
  EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 0, &n, 0), NICKPOOL_INVALID_ARGUMENT);
  EXPECT(n == 0);

  struct nickpool_stats st;
  st.size = sizeof st;
  EXPECT_STATUS(nickpool_stats(NULL, &st), NICKPOOL_INVALID_ARGUMENT);
  EXPECT_STATUS(nickpool_stats(np, NULL), NICKPOOL_INVALID_ARGUMENT);
  st.size = 0;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_INVALID_ARGUMENT);
  st.size = sizeof st - 1;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_INVALID_ARGUMENT);

  nickpool_close(NULL);
  for (unsigned s = 0; s < 20; s++) {
    EXPECT(nickpool_status_str((nickpool_status)s) != NULL);
  }
  EXPECT(nickpool_status_str((nickpool_status)0xFFFFFFFFu) != NULL);
  EXPECT(strstr(nickpool_status_str(NICKPOOL_EMPTY), "NICKPOOL_EMPTY") != NULL);
}

/* BUFFER_TOO_SMALL consumes nothing and reports the size needed, NUL
 * included; the nickname then comes whole with the right length. */
static void buffer_too_small(nickpool_client *np) {
  uint64_t before = consumed(np);
  char buf[SLOT];
  size_t needed = 0;
  memset(buf, 'X', sizeof buf);
  EXPECT_STATUS(nickpool_next(np, buf, 1, &needed, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  EXPECT(buf[0] == '\0' && buf[1] == 'X'); /* wrote only the one byte it was given */
  EXPECT(needed >= 2 && needed <= SLOT);
  EXPECT(consumed(np) == before);

  size_t again = 0;
  EXPECT_STATUS(nickpool_next(np, buf, needed - 1, &again, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  EXPECT(again == needed); /* the same nickname is still next */
  EXPECT(buf[0] == '\0');
  EXPECT(consumed(np) == before);

  size_t len = 0;
  memset(buf, 'X', sizeof buf);
  EXPECT_STATUS(nickpool_next(np, buf, needed, &len, LONG_WAIT), NICKPOOL_OK);
  EXPECT(len == needed - 1);
  EXPECT(strlen(buf) == len);
  EXPECT(position(buf) == before); /* exactly the nickname that did not fit */
  EXPECT(consumed(np) == before + 1);
}

/* A batch writes exactly out_count NUL-terminated strings, claims only
 * what fits, and consumes nothing more. */
static void batches(nickpool_client *np) {
  char buf[4 * SLOT + 16];
  size_t count = 99;

  /* Room for exactly the first nickname and its NUL: a batch of 4 gets 1. */
  uint64_t before = consumed(np);
  size_t needed = 0;
  EXPECT_STATUS(nickpool_next(np, buf, 1, &needed, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  memset(buf, 'X', sizeof buf);
  EXPECT_STATUS(nickpool_next_batch(np, buf, needed, 4, &count, LONG_WAIT), NICKPOOL_OK);
  EXPECT(count == 1);
  EXPECT(strlen(buf) == needed - 1);
  EXPECT(position(buf) == before);
  EXPECT(buf[needed] == 'X'); /* nothing written past the buffer given */
  EXPECT(consumed(np) == before + 1);

  /* Not even the first fits: BUFFER_TOO_SMALL, nothing consumed. */
  count = 99;
  EXPECT_STATUS(nickpool_next_batch(np, buf, 1, 4, &count, LONG_WAIT), NICKPOOL_BUFFER_TOO_SMALL);
  EXPECT(count == 0);
  EXPECT(consumed(np) == before + 1);

  /* A roomy buffer: between 1 and 4, consecutive positions, nothing else
   * written after the last NUL. */
  for (int round = 0; round < 20; round++) {
    uint64_t start = consumed(np);
    memset(buf, 'X', sizeof buf);
    EXPECT_STATUS(nickpool_next_batch(np, buf, sizeof buf, 4, &count, LONG_WAIT), NICKPOOL_OK);
    EXPECT(count >= 1 && count <= 4);
    const char *p = buf;
    for (size_t i = 0; i < count; i++) {
      EXPECT(strlen(p) >= 1 && strlen(p) <= NICKPOOL_MAX_NICKNAME_LEN);
      EXPECT(position(p) == start + i);
      p += strlen(p) + 1;
    }
    EXPECT(p < buf + sizeof buf && *p == 'X');
    EXPECT(consumed(np) == start + count);
  }
}

/* Timeout 0 never waits, whether or not the ring has a nickname. */
static void timeout_zero(nickpool_client *np) {
  char buf[SLOT];
  int empties = 0;
  for (int i = 0; i < 200; i++) {
    size_t len;
    double t0 = now_ms();
    nickpool_status st = nickpool_next(np, buf, sizeof buf, &len, 0);
    double took = now_ms() - t0;
    EXPECT(st == NICKPOOL_OK || st == NICKPOOL_EMPTY);
    EXPECT(took < 100.0);
    if (st == NICKPOOL_EMPTY) {
      empties++;
      EXPECT(len == 0 && buf[0] == '\0');
    }
  }
  (void)empties; /* whether the tiny ring ran dry depends on scheduling */
}

static void stats_checks(nickpool_client *np, const char *live) {
  struct nickpool_stats st;
  memset(&st, 0xAB, sizeof st);
  st.size = sizeof st;
  EXPECT_STATUS(nickpool_stats(np, &st), NICKPOOL_OK);
  EXPECT(st.size == sizeof st);
  EXPECT(strcmp(st.name, live) == 0);
  EXPECT(st.capacity == 4);
  EXPECT(st.daemon_pid > 0);
  EXPECT(st.produced >= st.consumed);
  EXPECT(st.unique == 0);
  EXPECT(memchr(st.dictionary, '\0', sizeof st.dictionary) != NULL);
  EXPECT(memchr(st.style, '\0', sizeof st.style) != NULL);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: contract LIVE MISSING INCOMPATIBLE\n");
    return 2;
  }
  EXPECT(nickpool_abi_version() == NICKPOOL_ABI_VERSION);
  open_checks(argv[2], argv[3]);

  nickpool_client *np = NULL;
  EXPECT_STATUS(nickpool_open(argv[1], &np), NICKPOOL_OK);
  EXPECT(np != NULL);
  argument_checks(np);
  buffer_too_small(np);
  batches(np);
  timeout_zero(np);
  stats_checks(np, argv[1]);
  nickpool_close(np);

  printf("contract: %d checks passed\n", checks);
  return 0;
}
