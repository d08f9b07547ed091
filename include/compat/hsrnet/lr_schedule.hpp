// Old include path, forwarding to hsrnet/train/lr_schedule.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/lr_schedule.hpp"
