// Old include path, forwarding to hsrnet/train/dense_identifier.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/dense_identifier.hpp"
