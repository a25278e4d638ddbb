/*
 * nickpool.hpp: a small C++17 RAII wrapper over the C ABI in nickpool.h.
 * Header-only; link as for C: `pkg-config --cflags --libs nickpool`.
 *
 *   nickpool::Client pool;                  // $NICKPOOL_NAME or /nickpool
 *   std::string nick = pool.next(100);      // wait at most 100 ms
 *
 * Every failure throws nickpool::Error, which carries the nickpool_status.
 * A Client may be used from many threads at once (its methods are const);
 * it closes its handle when destroyed. Moving leaves the source empty:
 * calls on a moved-from Client throw NICKPOOL_INVALID_ARGUMENT.
 * Fork: open a new Client in the child (see nickpool_open in nickpool.h).
 */
#ifndef NICKPOOL_HPP
#define NICKPOOL_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nickpool.h"

namespace nickpool {

/** Pass as a timeout to wait without limit. */
inline constexpr std::uint32_t wait_forever = NICKPOOL_WAIT_FOREVER;

/** The longest nickname in bytes, without a terminator. */
inline constexpr std::size_t max_nickname_len = NICKPOOL_MAX_NICKNAME_LEN;

/** The daemon's statistics (the C struct; see nickpool.h). */
using Stats = struct ::nickpool_stats;

/** A failed call: what() is nickpool_status_str(status()). */
class Error : public std::runtime_error {
 public:
  explicit Error(nickpool_status status)
      : std::runtime_error(nickpool_status_str(status)), status_(status) {}

  /** The status the C call returned (never NICKPOOL_OK). */
  nickpool_status status() const noexcept { return status_; }

 private:
  nickpool_status status_;
};

/** An open handle on a daemon's pool. Owns it; not copyable, movable. */
class Client {
 public:
  /** Opens `name`; nullptr means $NICKPOOL_NAME, else "/nickpool".
   *  Throws Error (e.g. NICKPOOL_NOT_RUNNING). */
  explicit Client(const char *name = nullptr) { check(nickpool_open(name, &handle_)); }
  explicit Client(const std::string &name) : Client(name.c_str()) {}

  ~Client() { nickpool_close(handle_); }

  Client(Client &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Client &operator=(Client &&other) noexcept {
    if (this != &other) {
      nickpool_close(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  /** The next nickname (UTF-8). Waits up to timeout_ms for one (0: never
   *  waits; default: without limit). Throws Error: NICKPOOL_EMPTY on
   *  timeout, NICKPOOL_DAEMON_GONE while no daemon serves the name, ... */
  std::string next(std::uint32_t timeout_ms = wait_forever) const {
    char buf[NICKPOOL_MAX_NICKNAME_LEN + 1];
    std::size_t len = 0;
    check(nickpool_next(handle_, buf, sizeof buf, &len, timeout_ms));
    return std::string(buf, len);
  }

  /** Like next(), but returns std::nullopt instead of throwing when no
   *  nickname became available in time (NICKPOOL_EMPTY). */
  std::optional<std::string> try_next(std::uint32_t timeout_ms = 0) const {
    char buf[NICKPOOL_MAX_NICKNAME_LEN + 1];
    std::size_t len = 0;
    nickpool_status st = nickpool_next(handle_, buf, sizeof buf, &len, timeout_ms);
    if (st == NICKPOOL_EMPTY) {
      return std::nullopt;
    }
    check(st);
    return std::string(buf, len);
  }

  /** Up to max_count nicknames claimed in one atomic step (at least one;
   *  as many as the pool holds now, up to max_count). Waits up to
   *  timeout_ms for the first. Throws Error. */
  std::vector<std::string> next_batch(std::size_t max_count,
                                      std::uint32_t timeout_ms = wait_forever) const {
    constexpr std::size_t slot = NICKPOOL_MAX_NICKNAME_LEN + 1;
    if (max_count == 0 || max_count > SIZE_MAX / slot) {
      throw Error(NICKPOOL_INVALID_ARGUMENT);
    }
    std::vector<char> buf(max_count * slot);
    std::size_t count = 0;
    check(nickpool_next_batch(handle_, buf.data(), buf.size(), max_count, &count, timeout_ms));
    std::vector<std::string> out;
    out.reserve(count);
    const char *p = buf.data();
    for (std::size_t i = 0; i < count; i++) {
      out.emplace_back(p);
      p += out.back().size() + 1;
    }
    return out;
  }

  /** The daemon's statistics. Throws Error. */
  Stats stats() const {
    Stats st{};
    st.size = sizeof st;
    check(::nickpool_stats(handle_, &st));
    return st;
  }

  /** The C handle, still owned by this Client (nullptr if moved from). */
  nickpool_client *native_handle() const noexcept { return handle_; }

 private:
  static void check(nickpool_status status) {
    if (status != NICKPOOL_OK) {
      throw Error(status);
    }
  }

  nickpool_client *handle_ = nullptr;
};

}  // namespace nickpool

#endif /* NICKPOOL_HPP */
