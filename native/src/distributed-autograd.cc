#include "distributed-autograd.h"

// torch.distributed.nn.functional.all_gather as a C++ autograd Function over the group's c10d
// backend (distributed.cc's processGroupBackend). libtorch also registers
// _c10d_functional_autograd::all_gather_into_tensor, callable through the generic op path, but it
// finds its group by name in c10d's registry, which holds c10d::ProcessGroup objects: that would tie
// this file to how distributed.cc builds and names its groups. This Function needs only the Backend's
// allgather and allreduce, which every c10d backend has.
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "distributed.h"
#include "slab.h"

namespace finetune {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AllGather : public torch::autograd::Function<AllGather> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, int64_t group) {
    ctx->saved_data["group"] = group;
    auto backend = processGroupBackend(group, input.device().type());
    std::vector<at::Tensor> inputs{input.contiguous()};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int rank = 0; rank < backend->getSize(); ++rank) outputs[0].push_back(at::empty_like(inputs[0]));
    backend->allgather(outputs, inputs)->wait();
    return outputs[0];
  }

  // Rank r's input reached every rank's loss through output r, so its gradient is the sum over ranks
  // of each rank's gradient for output r: one allreduce of all the outputs' gradients (Gloo's
  // reduce-scatter would send the same bytes), then this rank's slice. Autograd gives zeros for
  // outputs the loss did not use.
  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    std::vector<at::Tensor> summed{at::stack(gradOutputs)};
    auto backend = processGroupBackend(ctx->saved_data["group"].toInt(), summed[0].device().type());
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    backend->allreduce(summed, options)->wait();
    return {summed[0].select(0, backend->getRank()).clone(), at::Tensor()};
  }
};

}  // namespace

Napi::Value autogradAllGather(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw std::runtime_error("the process group must be a number");
  if (!info[1].IsNumber()) throw std::runtime_error("expected a tensor handle");
  int64_t group = info[0].As<Napi::Number>().Int64Value();
  // The TypeScript caller checked that the group's backend takes the input's device.
  const at::Tensor& input = slab().get(info[1].As<Napi::Number>().Int64Value());
  auto gathered = AllGather::apply(input, group);
  auto handles = Napi::Array::New(info.Env(), gathered.size());
  for (uint32_t i = 0; i < gathered.size(); ++i) {
    handles.Set(i, Napi::Number::New(info.Env(), slab().insert(gathered[i])));
  }
  return handles;
}

}  // namespace finetune
