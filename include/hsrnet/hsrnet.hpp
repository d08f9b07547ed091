// Umbrella header: everything hsrnet offers.
#pragma once

#include "hsrnet/config.hpp"
#include "hsrnet/cpu_features.hpp"
#include "hsrnet/dot_kernel.hpp"
#include "hsrnet/half_space_index.hpp"
#include "hsrnet/sgd_trainer.hpp"
#include "hsrnet/shifted_relu_net.hpp"
#include "hsrnet/tensor_file.hpp"
