// The C++ wrapper (include/nickpool.hpp) against real daemons; compiled
// with and without exceptions (-fno-exceptions) by tests/c_api.rs.
//
//   wrapper LIVE STOPPED MISSING
//
// LIVE is served by a running daemon, STOPPED by a daemon of capacity 4
// stopped with SIGSTOP (this program drains its ring), MISSING by none.
// Prints "wrapper: N checks passed (exceptions on|off)" and exits 0, or
// names the first failed check and exits 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "nickpool.hpp"

static int checks;

#define EXPECT(cond)                                                           \
  do {                                                                         \
    checks++;                                                                  \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "wrapper.cpp:%d: check failed: %s\n", __LINE__, #cond); \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

static bool contains(const std::string &text, const char *part) {
  return text.find(part) != std::string::npos;
}

int main(int argc, char **argv) {
  using namespace std::chrono_literals;
  using nickpool::timeout_ms;
  if (argc != 4) {
    std::fprintf(stderr, "usage: wrapper LIVE STOPPED MISSING\n");
    return 2;
  }

  // Timeouts: rounded up to whole milliseconds, clamped, never overflowing.
  EXPECT(timeout_ms(0ms) == 0);
  EXPECT(timeout_ms(nickpool::no_wait) == 0);
  EXPECT(timeout_ms(-5s) == 0);
  EXPECT(timeout_ms(1us) == 1);
  EXPECT(timeout_ms(1500us) == 2);
  EXPECT(timeout_ms(2s) == 2000);
  EXPECT(timeout_ms(std::chrono::duration<double>(0.25)) == 250);
  EXPECT(timeout_ms(std::chrono::hours(24 * 49)) == 24u * 49 * 3600 * 1000);
  EXPECT(timeout_ms(std::chrono::hours(24 * 50)) == NICKPOOL_WAIT_FOREVER);
  EXPECT(timeout_ms(std::chrono::hours::max()) == NICKPOOL_WAIT_FOREVER);
  EXPECT(timeout_ms(nickpool::forever) == NICKPOOL_WAIT_FOREVER);
  EXPECT(nickpool::default_timeout == 1s);

  // A name no daemon serves: a failed result with the status and message.
  auto missing = nickpool::Client::open(argv[3]);
  EXPECT(!missing && !missing.ok());
  EXPECT(missing.status() == NICKPOOL_NOT_RUNNING);
  EXPECT(contains(missing.error(), argv[3]));
  EXPECT(contains(missing.error(), "nickpool serve --name"));

  // A live daemon.
  auto live = nickpool::Client::open(std::string(argv[1]));
  EXPECT(live.ok() && live.status() == NICKPOOL_OK && live.error().empty());
  auto nick = live->next();
  EXPECT(nick && !nick->empty() && nick->size() <= nickpool::max_nickname_len);
  auto batch = live->next_batch(8, 2s);
  EXPECT(batch && !batch->empty() && batch->size() <= 8);
  auto none = live->next_batch(0);
  EXPECT(!none && none.status() == NICKPOOL_INVALID_ARGUMENT);
  EXPECT(contains(none.error(), "max_count"));
  auto stats = live->stats();
  EXPECT(stats && stats->consumed >= 2 && std::strcmp(stats->name, argv[1]) == 0);

  // Moving leaves the source empty; calls on it fail, not crash.
  nickpool::Client moved = std::move(*live);
  EXPECT(live->native_handle() == nullptr && moved.native_handle() != nullptr);
  auto on_moved = live->next(nickpool::no_wait);
  EXPECT(!on_moved && on_moved.status() == NICKPOOL_INVALID_ARGUMENT);
  EXPECT(contains(on_moved.error(), "client is NULL"));
  EXPECT(moved.next(2s).ok());

  // A stopped daemon: once its ring is drained, a call without a timeout
  // waits default_timeout (1 s), not forever, then says EMPTY.
  auto stopped = nickpool::Client::open(argv[2]);
  EXPECT(stopped.ok());
  int drained = 0;
  while (stopped->next(nickpool::no_wait)) {
    EXPECT(++drained <= 4);
  }
  auto start = std::chrono::steady_clock::now();
  auto empty = stopped->next();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT(!empty && empty.status() == NICKPOOL_EMPTY);
  EXPECT(took >= 1s && took < 3s);
  EXPECT(contains(empty.error(), "no nickname became available"));
  EXPECT(empty.value_or("fallback") == "fallback");
  EXPECT(stopped->next(50ms).status() == NICKPOOL_EMPTY);

#if NICKPOOL_HPP_EXCEPTIONS
  try {
    nickpool::Client client(argv[3]);
    EXPECT(false);
  } catch (const nickpool::Error &e) {
    EXPECT(e.status() == NICKPOOL_NOT_RUNNING);
    EXPECT(contains(e.what(), "nickpool serve --name"));
  }
  try {
    (void)empty.value();
    EXPECT(false);
  } catch (const nickpool::Error &e) {
    EXPECT(e.status() == NICKPOOL_EMPTY);
  }
  nickpool::Client throwing(argv[1]);
  EXPECT(!throwing.next(2s).value().empty());
  std::printf("wrapper: %d checks passed (exceptions on)\n", checks);
#else
  std::printf("wrapper: %d checks passed (exceptions off)\n", checks);
#endif
  return 0;
}
