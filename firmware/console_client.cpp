// `bulkhead console`: placeholder until the console client lands.
#include <cstdio>

namespace bh {
int console_main(int, char**) {
  std::fprintf(stderr, "bulkhead: console: not built yet\n");
  return 1;
}
}  // namespace bh
