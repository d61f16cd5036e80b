#pragma once
// The tokenfactory command line. `run` is the whole program minus process exit, so tests can
// drive it in-process: it returns 0 on success, 2 on a user error (message on `err`) and
// kExitInternalError when an exception that is not a user error reached the top (a bug).
#include <exception>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace tf::cli {

inline constexpr int kExitUserError = 2;
// EX_SOFTWARE of sysexits.h: the program failed, not the input.
inline constexpr int kExitInternalError = 70;

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Writes the message for an exception that reached the top and returns the exit code:
// DiagnosticError -> "error: ..." and 2; anything else -> "internal error: ..." and 70.
int report_exception(std::exception_ptr e, std::ostream& err);

// The data folder: --data if given, else $TOKENFACTORY_DATA, else the built-in one.
std::filesystem::path data_dir(const std::string& flag_value);

}  // namespace tf::cli
