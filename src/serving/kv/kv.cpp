#include "serving/kv/kv.hpp"

namespace tf::serving {

std::string_view to_string(KvAdmission k) {
  switch (k) {
    case KvAdmission::whole_context: return "whole-context";
    case KvAdmission::paged: return "paged";
  }
  return "?";
}

}  // namespace tf::serving
