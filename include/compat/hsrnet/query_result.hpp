// Old include path, forwarding to hsrnet/index/query_result.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/query_result.hpp"
