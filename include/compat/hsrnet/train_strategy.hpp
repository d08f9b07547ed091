// Old include path, forwarding to hsrnet/train/train_strategy.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/train_strategy.hpp"
