/*
 * nickpool.hpp: a small C++ wrapper over the C ABI in nickpool.h: an RAII
 * handle, std::string nicknames, std::chrono timeouts, and results instead
 * of exceptions. Header-only; link as for C:
 * `pkg-config --cflags --libs nickpool`.
 *
 * Needs C++17 or later (std::optional, inline variables); nickpool.h alone
 * needs C99 or C++11. Works with and without exceptions (-fno-exceptions).
 *
 *   using namespace std::chrono_literals;
 *   auto pool = nickpool::Client::open();   // $NICKPOOL_NAME, else /nickpool
 *   if (!pool) { std::cerr << pool.error() << '\n'; return 1; }
 *   auto nick = pool->next(100ms);          // waits at most 100 ms
 *   if (nick) std::cout << *nick << '\n';
 *   else std::cerr << nick.error() << '\n'; // e.g. NICKPOOL_EMPTY's message
 *
 * Every call returns a nickpool::Result<T>: ok() (or the result in a
 * condition), status() (the nickpool_status), error() (the full message,
 * what nickpool_last_error() said for the failed call), and the value
 * through *result, result-> or value_or(). Nothing throws except
 * std::bad_alloc from std::string and std::vector.
 *
 * Timeouts are std::chrono durations, rounded up to whole milliseconds:
 * no_wait (0) never waits, forever waits without limit, and a call given
 * none waits at most default_timeout (1 second). They bound both the wait
 * for the daemon to publish and, while no daemon serves the name, the wait
 * for a new one (see nickpool_next in nickpool.h).
 *
 * With exceptions on (the compiler's default; define NICKPOOL_HPP_EXCEPTIONS
 * to 0 to leave them out anyway) two conveniences throw nickpool::Error,
 * which carries the status and the message: Result<T>::value() and the
 * constructor Client(name). Under -fno-exceptions they are not declared.
 *
 * A Client may be used from many threads at once (its methods are const);
 * it closes its handle when destroyed. Moving leaves the source empty:
 * calls on a moved-from Client fail with NICKPOOL_INVALID_ARGUMENT.
 * Fork: open a new Client in the child (see nickpool_open in nickpool.h).
 */
#ifndef NICKPOOL_HPP
#define NICKPOOL_HPP

#if __cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#error "nickpool.hpp needs C++17 or later; nickpool.h alone works from C++11"
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef NICKPOOL_HPP_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define NICKPOOL_HPP_EXCEPTIONS 1
#else
#define NICKPOOL_HPP_EXCEPTIONS 0
#endif
#endif

#if NICKPOOL_HPP_EXCEPTIONS
#include <stdexcept>
#endif

#include "nickpool.h"

namespace nickpool {

/** A timeout that never waits. */
inline constexpr std::chrono::milliseconds no_wait{0};

/** A timeout that waits without limit (NICKPOOL_WAIT_FOREVER). */
inline constexpr std::chrono::milliseconds forever = std::chrono::milliseconds::max();

/** How long a call given no timeout waits at most. */
inline constexpr std::chrono::milliseconds default_timeout{1000};

/** The longest nickname in bytes, without a terminator. */
inline constexpr std::size_t max_nickname_len = NICKPOOL_MAX_NICKNAME_LEN;

/** The daemon's statistics (the C struct; see nickpool.h). */
using Stats = struct ::nickpool_stats;

/** A timeout as the C functions take it: milliseconds rounded up, 0 for
 *  none or a negative one, NICKPOOL_WAIT_FOREVER from 2^32 - 1 ms (49.7
 *  days) on. */
template <class Rep, class Period>
std::uint32_t timeout_ms(std::chrono::duration<Rep, Period> timeout) noexcept {
  // In double, so that no duration type can overflow on the way.
  const double ms = std::chrono::duration<double, std::milli>(timeout).count();
  if (!(ms > 0)) {
    return 0;
  }
  if (ms >= static_cast<double>(NICKPOOL_WAIT_FOREVER)) {
    return NICKPOOL_WAIT_FOREVER;
  }
  std::uint32_t whole = static_cast<std::uint32_t>(ms);
  if (static_cast<double>(whole) < ms && whole < NICKPOOL_WAIT_FOREVER - 1) {
    whole++;  // Wait at least as long as asked.
  }
  return whole;
}

#if NICKPOOL_HPP_EXCEPTIONS
/** A failed call, thrown only by Result<T>::value() and Client(name).
 *  what() is the full message (nickpool_last_error() of the call). */
class Error : public std::runtime_error {
 public:
  Error(nickpool_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}

  /** The status the C call returned (never NICKPOOL_OK). */
  nickpool_status status() const noexcept { return status_; }

 private:
  nickpool_status status_;
};
#endif

/** The outcome of a call: a value, or a status and a message. */
template <class T>
class [[nodiscard]] Result {
 public:
  /** Success holding `value`. */
  Result(T value) : value_(std::move(value)) {}

  /** A failure with `status` (not NICKPOOL_OK) and its message; by default
   *  the thread's nickpool_last_error(), so build it right after the call. */
  static Result failure(nickpool_status status) { return Result(status, nickpool_last_error()); }
  static Result failure(nickpool_status status, std::string message) {
    return Result(status, std::move(message));
  }

  bool ok() const noexcept { return status_ == NICKPOOL_OK; }
  explicit operator bool() const noexcept { return ok(); }

  /** NICKPOOL_OK, or why the call failed. */
  nickpool_status status() const noexcept { return status_; }

  /** The full message of the failure ("" when ok()). */
  const std::string &error() const noexcept { return error_; }

  /** The value; only when ok(), like std::optional's. */
  T &operator*() & noexcept { return *value_; }
  const T &operator*() const & noexcept { return *value_; }
  T &&operator*() && noexcept { return std::move(*value_); }
  T *operator->() noexcept { return &*value_; }
  const T *operator->() const noexcept { return &*value_; }

  /** The value, or `fallback` on failure. */
  T value_or(T fallback) const & { return ok() ? *value_ : std::move(fallback); }
  T value_or(T fallback) && { return ok() ? std::move(*value_) : std::move(fallback); }

#if NICKPOOL_HPP_EXCEPTIONS
  /** The value; throws Error on failure. */
  T &value() & {
    check();
    return *value_;
  }
  const T &value() const & {
    check();
    return *value_;
  }
  T &&value() && {
    check();
    return std::move(*value_);
  }
#endif

 private:
  Result(nickpool_status status, std::string message)
      : status_(status), error_(std::move(message)) {}

#if NICKPOOL_HPP_EXCEPTIONS
  void check() const {
    if (!ok()) {
      throw Error(status_, error_);
    }
  }
#endif

  std::optional<T> value_;
  nickpool_status status_ = NICKPOOL_OK;
  std::string error_;
};

/** An open handle on a daemon's pool. Owns it; not copyable, movable. */
class Client {
 public:
  /** Opens `name`; nullptr means $NICKPOOL_NAME, else "/nickpool". Fails
   *  with e.g. NICKPOOL_NOT_RUNNING (no daemon serves the name; it does not
   *  wait for one). */
  static Result<Client> open(const char *name = nullptr) {
    nickpool_client *handle = nullptr;
    nickpool_status status = nickpool_open(name, &handle);
    if (status != NICKPOOL_OK) {
      return Result<Client>::failure(status);
    }
    return Client(handle);
  }
  static Result<Client> open(const std::string &name) { return open(name.c_str()); }

#if NICKPOOL_HPP_EXCEPTIONS
  /** Opens `name` as open() does; throws Error on failure. */
  explicit Client(const char *name = nullptr) : Client(open(name).value()) {}
  explicit Client(const std::string &name) : Client(name.c_str()) {}
#endif

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

  /** The next nickname (UTF-8), waiting up to `timeout` for one (default:
   *  default_timeout). Fails with NICKPOOL_EMPTY when none came in time,
   *  NICKPOOL_DAEMON_GONE when no daemon served the name in time, ... */
  Result<std::string> next() const { return next(default_timeout); }
  template <class Rep, class Period>
  Result<std::string> next(std::chrono::duration<Rep, Period> timeout) const {
    char buf[NICKPOOL_MAX_NICKNAME_LEN + 1];
    std::size_t len = 0;
    nickpool_status status = nickpool_next(handle_, buf, sizeof buf, &len, timeout_ms(timeout));
    if (status != NICKPOOL_OK) {
      return Result<std::string>::failure(status);
    }
    return std::string(buf, len);
  }

  /** Up to max_count nicknames claimed in one atomic step (at least one;
   *  as many as the pool holds now, up to max_count), waiting up to
   *  `timeout` for the first (default: default_timeout). */
  Result<std::vector<std::string>> next_batch(std::size_t max_count) const {
    return next_batch(max_count, default_timeout);
  }
  template <class Rep, class Period>
  Result<std::vector<std::string>> next_batch(std::size_t max_count,
                                              std::chrono::duration<Rep, Period> timeout) const {
    constexpr std::size_t slot = NICKPOOL_MAX_NICKNAME_LEN + 1;
    if (max_count == 0 || max_count > SIZE_MAX / slot) {
      return Result<std::vector<std::string>>::failure(
          NICKPOOL_INVALID_ARGUMENT,
          "nickpool::Client::next_batch: max_count must be from 1 to SIZE_MAX / 56");
    }
    std::vector<char> buf(max_count * slot);
    std::size_t count = 0;
    nickpool_status status = nickpool_next_batch(handle_, buf.data(), buf.size(), max_count,
                                                 &count, timeout_ms(timeout));
    if (status != NICKPOOL_OK) {
      return Result<std::vector<std::string>>::failure(status);
    }
    std::vector<std::string> out;
    out.reserve(count);
    const char *p = buf.data();
    for (std::size_t i = 0; i < count; i++) {
      out.emplace_back(p);
      p += out.back().size() + 1;
    }
    return out;
  }

  /** The daemon's statistics. */
  Result<Stats> stats() const {
    Stats st{};
    st.size = sizeof st;
    nickpool_status status = ::nickpool_stats(handle_, &st);
    if (status != NICKPOOL_OK) {
      return Result<Stats>::failure(status);
    }
    return st;
  }

  /** The C handle, still owned by this Client (nullptr if moved from). */
  nickpool_client *native_handle() const noexcept { return handle_; }

 private:
  explicit Client(nickpool_client *handle) noexcept : handle_(handle) {}

  nickpool_client *handle_ = nullptr;
};

}  // namespace nickpool

#endif /* NICKPOOL_HPP */
