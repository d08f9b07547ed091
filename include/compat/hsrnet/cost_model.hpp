// Old include path, forwarding to hsrnet/index/cost_model.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/cost_model.hpp"
