#include "scatter/merge.hpp"
