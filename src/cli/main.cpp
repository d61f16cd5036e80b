#include <iostream>

#include "cli/app.hpp"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    return tf::cli::run(args, std::cout, std::cerr);
  } catch (...) {  // run reports its own; this catches what escapes its set-up
    return tf::cli::report_exception(std::current_exception(), std::cerr);
  }
}
