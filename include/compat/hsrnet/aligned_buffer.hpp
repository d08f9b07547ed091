// Old include path, forwarding to hsrnet/kernels/aligned_buffer.hpp; it goes after one release.
#pragma once
#include "hsrnet/kernels/aligned_buffer.hpp"
