#pragma once
// One check for every numeric and text flag of every command, attached after the commands are
// registered (so no flag can be added without it): a number must be finite, in the range of its
// type, not denormal and >= 0 (or the flag's own bounds below); an integer flag takes decimal
// digits only (CLI11 would read 010 as octal and wrap -1 or 2^65 to the same unsigned value);
// a text flag must not be empty. The bounds are stated in docs/limits.md.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace tf::cli {

struct FlagBounds {
  const char* command;  // subcommand name, or nullptr for every command with the flag
  const char* flag;     // "--isl"
  double min;
  double max;
  bool min_exclusive = false;  // (min, max] instead of [min, max]
};

// The flags whose bounds are not just [0, the type's range]: sizes that allocate (requests,
// clients), parallel degrees whose product must fit, token counts.
const std::vector<FlagBounds>& flag_bounds();

// Attaches the check to every option of `app` and of its subcommands, recursively.
void check_every_flag(CLI::App& app);

// The check itself: empty when `value` is acceptable for an option of CLI11 type `type_name`
// ("INT", "UINT", "FLOAT", "TEXT", ...) with `bounds` (nullptr: the defaults), else the reason.
std::string check_flag_value(const std::string& value, const std::string& type_name, const FlagBounds* bounds);

}  // namespace tf::cli
