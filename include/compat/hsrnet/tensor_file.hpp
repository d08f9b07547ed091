// Old include path, forwarding to hsrnet/io/tensor_file.hpp; it goes after one release.
#pragma once
#include "hsrnet/io/tensor_file.hpp"
