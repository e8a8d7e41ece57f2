// The pieces conv_forward, explain, autotune and prepack share (internal to
// csrc/ops/conv): the decision under the current settings, the host (ATen) path
// and the NPU path through the active conv backend.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

#include "csrc/ops/conv/conv_params.h"
#include "csrc/ops/host_op.h"
#include "csrc/ops/conv/planner.h"
#include "csrc/ops/conv/weight_cache.h"
#include "csrc/runtime/conv_backend.h"

namespace torch_aie::conv {

// The planner's decision under the settings in force (`forced` overrides the global
// algorithm), refused with the backend's reason if the active backend cannot run it.
ConvDecision decide(const ConvParams& p, std::optional<ConvAlgorithm> forced, runtime::Activation act,
                    bool bias);

// The job a decision describes.
runtime::ConvJob make_job(const ConvParams& p, const ConvDecision& d, runtime::Activation act, bool bias);

// `weight` packed by `backend` for `job`, through the weight cache.
PackedPtr packed_for(const runtime::ConvBackend& backend, const runtime::ConvJob& job, const at::Tensor& weight);

// Runs an on_npu decision through the active backend; returns the output tensor.
// `residual` (undefined: none) is added before the activation, broadcast to the output;
// `input_scale` (undefined: none) multiplies the input first (conv_forward).
at::Tensor run_on_npu(const ConvArgs& a, const ConvParams& p, const ConvDecision& d, runtime::Activation act,
                      const at::Tensor& residual = at::Tensor(), const at::Tensor& input_scale = at::Tensor());

// The CPU path: ATen's convolution on host views, result on the input's device.
at::Tensor host_conv(const ConvArgs& a, runtime::Activation act, const at::Tensor& residual = at::Tensor(),
                     const at::Tensor& input_scale = at::Tensor());

// Puts host work under the device's fallback mode and counts it in fallback_stats().
using ops::note_host_op;

// Returns `r` (computed on the host) on the device of `like`.
at::Tensor to_device_of(const at::Tensor& r, const at::Tensor& like);

// The autotuner's choice for this call's shape (timing every algorithm on first sight).
std::optional<ConvAlgorithm> autotuned(const ConvArgs& a, const ConvParams& p);

}  // namespace torch_aie::conv
