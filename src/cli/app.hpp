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

struct SharedData;

// `shared`: catalogs already loaded (the web server's; nullptr reads the data folder).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const SharedData* shared = nullptr);

// The long flags of a command ("frontier", "catalog hardware"), without the dashes, and whether
// each takes a value (empty for an unknown command): the keys the web API accepts.
struct CommandFlag {
  std::string name;
  bool takes_value = true;
  std::string type;  // the value's kind as the flag checks see it: INT, UINT, FLOAT, TEXT, ...
};
std::vector<CommandFlag> command_flags(const std::string& command);

// Every command path ("frontier", "catalog hardware"), in the order they are registered.
std::vector<std::string> command_names();

// Writes the message for an exception that reached the top and returns the exit code:
// DiagnosticError -> "error: ..." and 2; anything else -> "internal error: ..." and 70.
int report_exception(std::exception_ptr e, std::ostream& err);

// The message of a failed in-process run's error text: "error: " and trailing newlines removed
// (what an enclosing command quotes when a command it ran fails).
std::string error_message(std::string err);

// The data folder: --data if given, else $TOKENFACTORY_DATA, else the built-in one.
std::filesystem::path data_dir(const std::string& flag_value);

}  // namespace tf::cli
