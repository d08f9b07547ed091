// Old include path, forwarding to hsrnet/index/gemm_backend.hpp; it goes after one release.
#pragma once
#include "hsrnet/index/gemm_backend.hpp"
