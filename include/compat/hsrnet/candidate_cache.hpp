// Old include path, forwarding to hsrnet/train/candidate_cache.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/candidate_cache.hpp"
