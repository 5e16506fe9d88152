#include "scatter/hedge.hpp"
