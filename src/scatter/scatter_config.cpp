#include "scatter/scatter_config.hpp"
