// Old include path, forwarding to hsrnet/net/rng.hpp; it goes after one release.
#pragma once
#include "hsrnet/net/rng.hpp"
