// Old include path, forwarding to hsrnet/index/kd_tree.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/kd_tree.hpp"
