// client.cpp: the C++17 wrapper (include/nickpool.hpp): an RAII handle,
// std::string nicknames, std::chrono timeouts, and results that carry the
// status and the full message instead of exceptions (so it builds with
// -fno-exceptions too).
//
//   c++ -std=c++17 client.cpp $(pkg-config --cflags --libs nickpool) -o client
//   ./client [NAME]
#include <chrono>
#include <iostream>
#include <string>

#include "nickpool.hpp"

using namespace std::chrono_literals;

template <class T>
static int fail(const nickpool::Result<T> &result) {
  std::cerr << "client: " << result.error() << " (status " << static_cast<unsigned>(result.status())
            << ")\n";
  return 1;
}

int main(int argc, char **argv) {
  auto pool = nickpool::Client::open(argc > 1 ? argv[1] : nullptr);  // closed on scope exit
  if (!pool) {
    return fail(pool);
  }

  for (int i = 0; i < 5; i++) {
    auto nick = pool->next(1s);  // wait at most 1 s for each
    if (!nick) {
      return fail(nick);
    }
    std::cout << *nick << '\n';
  }
  auto batch = pool->next_batch(5, 1s);  // up to 5 in one atomic claim
  if (!batch) {
    return fail(batch);
  }
  for (const std::string &nick : *batch) {
    std::cout << nick << '\n';
  }
  if (auto nick = pool->next(nickpool::no_wait)) {  // never waits
    std::cout << *nick << '\n';
  }

  auto stats = pool->stats();
  if (!stats) {
    return fail(stats);
  }
  std::cerr << "client: " << stats->name << " has handed out " << stats->consumed
            << " nicknames\n";
  return 0;
}
