#pragma once
// The tokenfactory command line. `run` is the whole program minus process exit, so tests can
// drive it in-process: it returns 0 on success, 2 on a user error (message on `err`).
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace tf::cli {

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The data folder: --data if given, else $TOKENFACTORY_DATA, else the built-in one.
std::filesystem::path data_dir(const std::string& flag_value);

}  // namespace tf::cli
