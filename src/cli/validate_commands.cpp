// `tokenfactory validate` and `tokenfactory calibrate` (stub).
#include "cli/commands.hpp"

namespace tf::cli {

void register_validate_commands(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace tf::cli
