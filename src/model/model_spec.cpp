#include "model/model_spec.hpp"

#include <algorithm>

namespace tf::model {

std::string_view to_string(AttentionKind k) {
  switch (k) {
    case AttentionKind::full: return "full";
    case AttentionKind::sliding: return "sliding";
    case AttentionKind::chunked: return "chunked";
  }
  return "?";
}

std::string_view to_string(AttentionType t) { return t == AttentionType::mla ? "mla" : "gqa"; }

long long ModelSpec::num_moe_layers() const {
  return std::count_if(layers.begin(), layers.end(), [](const LayerSpec& l) { return l.moe; });
}

long long ModelSpec::num_window_layers() const {
  return std::count_if(layers.begin(), layers.end(),
                       [](const LayerSpec& l) { return l.attention != AttentionKind::full; });
}

}  // namespace tf::model
