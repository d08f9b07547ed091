// Learning-rate schedules of the SGD trainer.
//
//   constant:            lr_t = lr0
//   invscaling:          lr_t = lr0 / (1 + t)^power, t = SGD steps taken before this one
//   sklearn_invscaling:  lr   = lr0 / (1 + s)^power, s = samples seen before the current epoch; the rate is
//                        fixed within an epoch (scikit-learn's MLP "invscaling": updated at epoch ends)
// Powers go through portable::pow, so a schedule reproduces bit for bit everywhere.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "hsrnet/kernels/portable_math.hpp"

namespace hsrnet {

enum class Schedule { Constant, InvScaling, SklearnInvScaling };

inline const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::Constant: return "constant";
    case Schedule::InvScaling: return "invscaling";
    case Schedule::SklearnInvScaling: return "sklearn_invscaling";
  }
  return "?";
}

inline Schedule parse_schedule(const std::string& name) {
  if (name == "constant") return Schedule::Constant;
  if (name == "invscaling" || name == "inverse_scaling") return Schedule::InvScaling;
  if (name == "sklearn_invscaling" || name == "sklearn") return Schedule::SklearnInvScaling;
  throw std::invalid_argument("hsrnet: unknown schedule '" + name +
                              "' (expected constant, invscaling or sklearn_invscaling)");
}

/// The learning rate of the step that follows `steps_done` steps, in an epoch that began after
/// `samples_before_epoch` samples.
inline double learning_rate(Schedule schedule, double lr0, double power, std::size_t steps_done,
                            std::size_t samples_before_epoch) {
  switch (schedule) {
    case Schedule::Constant: return lr0;
    case Schedule::InvScaling: return lr0 / portable::pow(1.0 + static_cast<double>(steps_done), power);
    case Schedule::SklearnInvScaling:
      return lr0 / portable::pow(1.0 + static_cast<double>(samples_before_epoch), power);
  }
  return lr0;
}

}  // namespace hsrnet
