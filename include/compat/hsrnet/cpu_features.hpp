// Old include path, forwarding to hsrnet/kernels/cpu_features.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/cpu_features.hpp"
