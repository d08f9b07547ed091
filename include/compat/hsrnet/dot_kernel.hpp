// Old include path, forwarding to hsrnet/kernels/dot_kernel.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/dot_kernel.hpp"
