#pragma once
// CHECK(cond): an invariant of a fuzz target. A failure says which, then aborts, and the fuzzer
// saves the input that broke it.

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                  \
    }                                                                                \
  } while (false)
