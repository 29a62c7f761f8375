{
  "variables": {
    "finetune_gloo%": "<!(node native/src/gloo-headers.cjs)",
    "finetune_nccl%": "<!(node native/src/nccl-build.cjs enabled)"
  },
  "targets": [
    {
      "target_name": "finetune",
      "sources": [
        "native/src/addon.cc",
        "native/src/js-function.cc",
        "native/src/ops.cc",
        "native/src/shared-buffers.cc",
        "native/src/slab.cc",
        "native/src/tensors.cc",
        "native/src/values.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"process.env.LIBTORCH\")/include",
        "<!(node -p \"process.env.LIBTORCH\")/include/torch/csrc/api/include"
      ],
      "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=<!(node -p \"process.env.LIBTORCH_CXX11_ABI || 1\")"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++20"],
      "cflags_cc": ["-std=c++20", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": [
        "-L<!(node -p \"process.env.LIBTORCH\")/lib",
        "-Wl,-rpath,<!(node -p \"process.env.LIBTORCH\")/lib",
        "-Wl,--no-as-needed",
        "-ltorch_cpu",
        "-ltorch",
        "-lc10"
      ],
      "conditions": [
        ["finetune_gloo==1", {
          "sources": ["native/src/distributed.cc", "native/src/distributed-autograd.cc"],
          "defines": ["USE_C10D_GLOO", "FINETUNE_DISTRIBUTED"]
        }],
        ["finetune_gloo==1 and finetune_nccl==1", {
          "include_dirs": ["<!@(node native/src/nccl-build.cjs include-dirs)"],
          "defines": ["USE_C10D_NCCL", "FINETUNE_NCCL"],
          "cflags_cc": ["-Wno-interference-size"],
          "libraries": ["-ltorch_cuda", "-lc10_cuda"]
        }]
      ]
    }
  ]
}
