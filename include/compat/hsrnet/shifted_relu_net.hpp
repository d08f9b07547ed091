// Old include path, forwarding to hsrnet/net/shifted_relu_net.hpp; it goes after one release.
#pragma once
#include "hsrnet/net/shifted_relu_net.hpp"
