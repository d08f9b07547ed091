// Old include path, forwarding to hsrnet/train/sgd_trainer.hpp; it goes after one release.
#pragma once
#include "hsrnet/train/sgd_trainer.hpp"
