// Old include path, forwarding to hsrnet/kernels/above_threshold.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/above_threshold.hpp"
