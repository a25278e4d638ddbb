// client.cpp: the C++17 wrapper (include/nickpool.hpp): RAII handle,
// std::string nicknames, errors as exceptions carrying the status.
//
//   c++ -std=c++17 client.cpp $(pkg-config --cflags --libs nickpool) -o client
//   ./client [NAME]
#include <optional>
#include <string>
#include <iostream>

#include "nickpool.hpp"

int main(int argc, char **argv) {
  try {
    nickpool::Client pool(argc > 1 ? argv[1] : nullptr);  // closed on scope exit

    for (int i = 0; i < 5; i++) {
      std::cout << pool.next(1000) << '\n';  // wait at most 1 s for each
    }
    for (const std::string &nick : pool.next_batch(5, 1000)) {
      std::cout << nick << '\n';
    }
    if (std::optional<std::string> nick = pool.try_next()) {  // never waits
      std::cout << *nick << '\n';
    }

    nickpool::Stats stats = pool.stats();
    std::cerr << "client: " << stats.name << " has handed out " << stats.consumed
              << " nicknames\n";
  } catch (const nickpool::Error &e) {
    std::cerr << "client: " << e.what() << " (status " << static_cast<unsigned>(e.status())
              << ")\n";
    return 1;
  }
  return 0;
}
