// Old include path, forwarding to hsrnet/kernels/portable_math.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/portable_math.hpp"
