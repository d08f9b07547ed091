// Old include path, forwarding to hsrnet/index/row_store.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/row_store.hpp"
