#include "scatter/split.hpp"
