// Old include path, forwarding to hsrnet/kernels/multi_dot.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/multi_dot.hpp"
