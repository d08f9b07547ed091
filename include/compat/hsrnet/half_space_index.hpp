// Old include path, forwarding to hsrnet/index/half_space_index.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/half_space_index.hpp"
