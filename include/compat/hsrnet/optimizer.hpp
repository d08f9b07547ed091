// Old include path, forwarding to hsrnet/train/optimizer.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/optimizer.hpp"
