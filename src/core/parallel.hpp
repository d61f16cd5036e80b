#pragma once
// A deterministic parallel loop: body(i) for i in [0, n) on up to `threads` threads (the calling
// thread is one of them). Indices are handed out in increasing order, so results written by index
// do not depend on the thread count. An exception thrown by body is caught on its worker (an
// exception leaving a std::thread would terminate the process), no further index is handed out,
// and after every worker has joined the exception of the lowest failing index is rethrown on the
// calling thread: the same exception whatever the thread count, since every lower index was
// handed out before it and so has run.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tf {

template <typename Body>
void parallel_for(std::size_t n, int threads, Body&& body) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::size_t failed_index = n;
  std::exception_ptr failure;
  auto worker = [&] {
    for (;;) {
      if (failed.load()) return;
      const std::size_t i = next++;
      if (i >= n) return;
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (i < failed_index) {
          failed_index = i;
          failure = std::current_exception();
        }
        failed = true;
      }
    }
  };
  const std::size_t workers = std::max<std::size_t>(1, std::min<std::size_t>(threads > 0 ? threads : 1, n));
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  try {
    for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(worker);
  } catch (...) {  // could not start a thread: the threads already started and this one do the work
  }
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace tf
