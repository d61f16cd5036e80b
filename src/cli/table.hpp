#pragma once
// Plain-text tables for terminal output: left-aligned text, right-aligned numbers.
#include <ostream>
#include <string>
#include <vector>

namespace tf::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void add_row(std::vector<std::string> cells);
  // Columns listed here are right-aligned (numbers).
  void right_align(std::vector<size_t> columns);
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

// Number formatting helpers for tables ("-" for missing values).
std::string fixed(double v, int decimals);
std::string thousands(double v);  // 1234567 -> "1,234,567"

}  // namespace tf::cli
