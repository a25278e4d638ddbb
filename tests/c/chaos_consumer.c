/*
 * chaos_consumer.c: a consumer for tests/chaos.rs, which kills it, kills,
 * stops and restarts its daemon, and checks its log.
 *
 *   chaos_consumer NAME LOG STATE TIMEOUT_MS SEED
 *
 * Opens NAME (retrying while no daemon serves it), then pulls forever in
 * bursts of 1 to 16 calls of nickpool_next or nickpool_next_batch, with
 * pauses of 1 to 5 ms between bursts, on the one handle it opened. Every
 * call is logged to LOG (appended; times are CLOCK_MONOTONIC nanoseconds):
 *
 *   O T                          the handle is open
 *   S T PID                      nickpool_stats: the daemon the handle is
 *                                on now (0 if the call failed)
 *   N T0 T1 STATUS NICKNAME      one nickname of a call that started at T0
 *                                and returned at T1 (a batch gives one line
 *                                per nickname); NICKNAME is '-' when the
 *                                status is not NICKPOOL_OK
 *
 * A stats line follows the opening, every 16 nicknames, and every call that
 * did not return NICKPOOL_OK, so the checker knows which daemons the
 * nicknames between two stats lines can come from. The log is written
 * after each burst and at once after a status other than NICKPOOL_OK (and
 * the first NICKPOOL_OK after one); a kill loses at most a burst.
 *
 * STATE is a file of at least 4 bytes shared with the test: its first
 * 32-bit word is 1 while a pull call runs, so the test can kill the
 * consumer in the middle of one.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nickpool.h"

#define LOG_CAPACITY (1 << 16)
#define MAX_BATCH 4

static char log_buf[LOG_CAPACITY];
static size_t log_used;
static int log_fd;
static uint64_t rng_state;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static void flush_log(void) {
  size_t done = 0;
  while (done < log_used) {
    ssize_t n = write(log_fd, log_buf + done, log_used - done);
    if (n <= 0) {
      perror("chaos_consumer: write log");
      exit(2);
    }
    done += (size_t)n;
  }
  log_used = 0;
}

static void log_line(const char *fmt, ...) {
  if (log_used > LOG_CAPACITY - 256) flush_log();
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(log_buf + log_used, LOG_CAPACITY - log_used, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= LOG_CAPACITY - log_used) {
    fprintf(stderr, "chaos_consumer: log line too long\n");
    exit(2);
  }
  log_used += (size_t)n;
}

static void log_stats(nickpool_client *np) {
  struct nickpool_stats st = {.size = sizeof st};
  uint64_t pid = 0;
  if (nickpool_stats(np, &st) == NICKPOOL_OK) pid = st.daemon_pid;
  log_line("S %llu %llu\n", (unsigned long long)now_ns(),
           (unsigned long long)pid);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: chaos_consumer NAME LOG STATE TIMEOUT_MS SEED\n");
    return 2;
  }
  const char *name = argv[1];
  uint32_t timeout_ms = (uint32_t)strtoul(argv[4], NULL, 10);
  rng_state = strtoull(argv[5], NULL, 10) * 2654435761u + 1;

  log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int state_fd = open(argv[3], O_RDWR | O_CLOEXEC);
  if (log_fd < 0 || state_fd < 0) {
    perror("chaos_consumer: open");
    return 2;
  }
  _Atomic uint32_t *in_call =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, state_fd, 0);
  if (in_call == MAP_FAILED) {
    perror("chaos_consumer: mmap");
    return 2;
  }

  nickpool_client *np = NULL;
  nickpool_status st;
  while ((st = nickpool_open(name, &np)) != NICKPOOL_OK) {
    if (st != NICKPOOL_NOT_RUNNING) {
      fprintf(stderr, "chaos_consumer: open: %s\n", nickpool_status_str(st));
      return 2;
    }
    sleep_us(5000);
  }
  log_line("O %llu\n", (unsigned long long)now_ns());
  log_stats(np);
  flush_log();

  unsigned since_stats = 0;
  int after_failure = 0;
  char buf[MAX_BATCH * (NICKPOOL_MAX_NICKNAME_LEN + 1)];
  for (;;) {
    unsigned burst = 1 + (unsigned)(rnd() % 16);
    for (unsigned i = 0; i < burst; i++) {
      size_t max = rnd() % 4 == 0 ? 1 + (size_t)(rnd() % MAX_BATCH) : 0;
      size_t out = 0;
      atomic_store(in_call, 1);
      uint64_t t0 = now_ns();
      if (max == 0) {
        st = nickpool_next(np, buf, NICKPOOL_MAX_NICKNAME_LEN + 1, &out,
                           timeout_ms);
      } else {
        st = nickpool_next_batch(np, buf, max * (NICKPOOL_MAX_NICKNAME_LEN + 1),
                                 max, &out, timeout_ms);
      }
      uint64_t t1 = now_ns();
      atomic_store(in_call, 0);
      if (st == NICKPOOL_OK) {
        size_t count = max == 0 ? 1 : out;
        const char *p = buf;
        for (size_t k = 0; k < count; k++) {
          log_line("N %llu %llu 0 %s\n", (unsigned long long)t0,
                   (unsigned long long)t1, p);
          p += strlen(p) + 1;
        }
        since_stats += (unsigned)count;
        if (since_stats >= 16) {
          log_stats(np);
          since_stats = 0;
        }
        if (after_failure) {
          after_failure = 0;
          flush_log();
        }
      } else {
        log_line("N %llu %llu %u -\n", (unsigned long long)t0,
                 (unsigned long long)t1, (unsigned)st);
        log_stats(np);
        since_stats = 0;
        after_failure = 1;
        flush_log();
        if (st != NICKPOOL_EMPTY || timeout_ms == 0) sleep_us(2000);
      }
    }
    flush_log();
    sleep_us(1000 + rnd() % 4000);
  }
}
