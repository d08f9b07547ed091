// Old include path, forwarding to hsrnet/train/neuron_major.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/neuron_major.hpp"
