#include "validate/validate.hpp"
