// Budget checks at start-up: RLIMIT_NOFILE against the FD total, and the printed table.
#include "firmware/budget.hpp"
