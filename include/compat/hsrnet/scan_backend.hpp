// Old include path, forwarding to hsrnet/index/scan_backend.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/scan_backend.hpp"
