#pragma once
// The web app's HTTP server (cpp-httplib): the app page, and a JSON API whose endpoints run
// tokenfactory commands in-process and return their result documents. Request bodies are JSON
// objects keyed by the command's flag names ({"model": "...", "hardware": ["h100-sxm"],
// "isl": 1024}); every body is validated before anything runs.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "report/documents.hpp"

namespace tf::report {

struct CommandOutput {
  int exit_code = 0;  // 0 ok, 2 the caller's mistake, anything else an internal error
  std::string out, err;
};
// Runs a command line ({"frontier", "--model", "x", "--json"}) and returns what it printed.
using CommandRunner = std::function<CommandOutput(const std::vector<std::string>& args)>;

struct ApiKey {
  std::string name;  // the command's long flag name without dashes ("max-chips")
  bool takes_value = true;
};

struct ApiEndpoint {
  std::string method;  // "GET" or "POST"
  std::string path;    // "/api/v1/frontier"
  std::vector<std::string> command;  // {"frontier"}, {"catalog", "hardware"}
  std::vector<ApiKey> keys;          // body keys accepted (POST)
  std::string description;
  // GET endpoints whose command prints a JSON array: the document wraps it as
  // {"schema": wrap_schema, wrap_key: [...]}.
  std::string wrap_schema, wrap_key;
};

// A body turned into a command line, or why not (HTTP status and message).
struct ApiCall {
  std::vector<std::string> args;
  int status = 200;
  std::string error;
};
// Validates a POST body against the endpoint: a JSON object (at most max_depth deep, numbers in
// the range of a double) whose keys are the endpoint's (dashes or underscores), values strings,
// finite numbers, booleans (a switch: true sets it, false leaves it out; an option that takes a
// value: "true" / "false"), null (left out) or arrays of strings and numbers (comma-joined).
// Appends --json.
ApiCall api_call(const ApiEndpoint& e, const std::string& body);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8765;                         // 0: any free port
  size_t max_body_bytes = 64 * 1024;       // larger bodies get 413
  double request_timeout_s = 60;           // a command running longer answers 504
  int max_jobs = 4;                        // commands running at once; a request waits up to queue_wait_s
  double queue_wait_s = 10;                // then 503
  int threads = 16;                        // connections served at once
};

class ApiServer {
 public:
  ApiServer(ServerOptions options, std::vector<ApiEndpoint> endpoints, CommandRunner runner, std::string app_page);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket (DiagnosticError when it cannot) and returns the port.
  int bind();
  // Serves until stop(); returns false when the server failed.
  bool listen();
  // True once listen() accepts connections (until stop()).
  [[nodiscard]] bool running() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The web app: one page with the charting library, the report's views and the app's controls
// inlined; it talks to the API of the server that serves it.
std::string app_html();

}  // namespace tf::report
