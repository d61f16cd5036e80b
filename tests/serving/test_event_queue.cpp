// The service's event queue: (time, class, sequence) order, whatever the push order.
#include "serving/cluster/event_queue.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace tf::serving {
namespace {

TEST(EventQueue, TakesEventsByTimeThenClassThenPushOrder) {
  EventQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.top(), nullptr);
  EXPECT_EQ(q.next_time(), std::numeric_limits<double>::infinity());
  // Pushed out of order: two transfers and three arrivals, two of them at t = 1 with one
  // transfer, and two arrivals at t = 2 pushed request 9 first.
  EXPECT_EQ(q.push(EventClass::kv_transfer, 1.0, 5, 3), 0u);
  EXPECT_EQ(q.push(EventClass::arrival, 2.0, 9), 1u);
  EXPECT_EQ(q.push(EventClass::arrival, 1.0, 4), 2u);
  EXPECT_EQ(q.push(EventClass::arrival, 2.0, 1), 3u);
  EXPECT_EQ(q.push(EventClass::kv_transfer, 0.5, 6, 1), 4u);
  ASSERT_NE(q.first(EventClass::arrival), nullptr);
  EXPECT_EQ(q.first(EventClass::arrival)->request, 4u);
  EXPECT_EQ(q.first(EventClass::kv_transfer)->request, 6u);
  EXPECT_EQ(q.next_time(), 0.5);
  std::vector<size_t> order;
  std::vector<size_t> targets;
  while (!q.empty()) {
    const Event e = q.pop();
    order.push_back(e.request);
    targets.push_back(e.target);
  }
  // 0.5 transfer; at 1.0 the arrival before the transfer; at 2.0 in push order (9 before 1).
  EXPECT_EQ(order, (std::vector<size_t>{6, 4, 5, 9, 1}));
  EXPECT_EQ(targets, (std::vector<size_t>{1, 0, 3, 0, 0}));
}

}  // namespace
}  // namespace tf::serving
