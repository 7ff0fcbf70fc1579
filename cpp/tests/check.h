// The C++ tests' assertion: CHECK(cond) counts passes and failures and prints each failure with its
// file, line and the current g_context (set it to name the case being checked). Each test's main
// ends with `return report();`.
#pragma once

#include <cstdio>
#include <string>

namespace {

int g_passed = 0, g_failed = 0;
std::string g_context;  // printed with each failure

int report() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

}  // namespace

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (cond) {                                                                                    \
      ++g_passed;                                                                                  \
    } else {                                                                                       \
      ++g_failed;                                                                                  \
      std::fprintf(stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, g_context.c_str(), #cond); \
    }                                                                                              \
  } while (0)
