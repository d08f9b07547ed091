// Umbrella header: everything hsrnet offers.
#pragma once

#include "hsrnet/config.hpp"
#include "hsrnet/index/half_space_index.hpp"
#include "hsrnet/io/tensor_file.hpp"
#include "hsrnet/kernels/cpu_features.hpp"
#include "hsrnet/kernels/dot_kernel.hpp"
#include "hsrnet/net/shifted_relu_net.hpp"
#include "hsrnet/train/sgd_trainer.hpp"
