// Old include path, forwarding to hsrnet/net/losses.hpp; it goes after one release.
#pragma once
#include "hsrnet/net/losses.hpp"
