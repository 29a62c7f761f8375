#include "ops.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/util/SmallVector.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared-buffers.h"
#include "slab.h"
#include "values.h"

namespace finetune {

namespace {

enum class Kind {
  Tensor, TensorList, OptionalTensorList, Int, IntList, Float, FloatList, Bool, BoolList,
  Scalar, ScalarList, String, ScalarType, Layout, Device, MemoryFormat, Generator, Unsupported
};

struct ArgSpec {
  std::string name;
  std::string camelName;
  std::string typeName;
  Kind kind;
  bool optional;
  std::optional<int32_t> fixedLength;
  bool kwargOnly;
  bool writes;  // an in-place or out= argument: the operator may reallocate its storage
  std::optional<c10::IValue> defaultValue;
};

struct ReturnSpec {
  std::string typeName;
  Kind kind;
  bool optional;
  int aliasedArg;  // index of the argument this return writes into, or -1
};

struct OpEntry {
  c10::OperatorHandle handle;
  std::string qualifiedName;
  std::vector<ArgSpec> args;
  std::vector<ReturnSpec> returns;
  size_t positionalCount;
  bool fusedOptimizer;  // aten::_fused_adam_ and kin: kernels that trust their lists' shapes
};

std::vector<OpEntry>& opTable() {
  static std::vector<OpEntry> table;
  return table;
}

std::unordered_map<std::string, int32_t>& opIds() {
  static std::unordered_map<std::string, int32_t> ids;
  return ids;
}

std::string camelCase(const std::string& name) {
  std::string out;
  bool upper = false;
  for (char c : name) {
    if (c == '_' && !out.empty()) { upper = true; continue; }
    out += upper ? static_cast<char>(std::toupper(c)) : c;
    upper = false;
  }
  return out;
}

Kind kindOf(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return Kind::Tensor;
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: return Kind::Int;
    case c10::TypeKind::FloatType:
    case c10::TypeKind::SymFloatType: return Kind::Float;
    case c10::TypeKind::BoolType:
    case c10::TypeKind::SymBoolType: return Kind::Bool;
    case c10::TypeKind::NumberType: return Kind::Scalar;
    case c10::TypeKind::StringType: return Kind::String;
    case c10::TypeKind::ScalarTypeType: return Kind::ScalarType;
    case c10::TypeKind::LayoutType: return Kind::Layout;
    case c10::TypeKind::DeviceObjType: return Kind::Device;
    case c10::TypeKind::MemoryFormatType: return Kind::MemoryFormat;
    case c10::TypeKind::GeneratorType: return Kind::Generator;
    case c10::TypeKind::ListType: {
      auto element = type->castRaw<c10::ListType>()->getElementType();
      if (auto inner = element->cast<c10::OptionalType>()) {
        return inner->getElementType()->kind() == c10::TypeKind::TensorType ? Kind::OptionalTensorList
                                                                             : Kind::Unsupported;
      }
      switch (kindOf(element)) {
        case Kind::Tensor: return Kind::TensorList;
        case Kind::Int: return Kind::IntList;
        case Kind::Float: return Kind::FloatList;
        case Kind::Bool: return Kind::BoolList;
        case Kind::Scalar: return Kind::ScalarList;
        default: return Kind::Unsupported;
      }
    }
    default: return Kind::Unsupported;
  }
}

void describe(const c10::TypePtr& realType, std::string* typeName, Kind* kind, bool* optional) {
  *typeName = realType->annotation_str();
  c10::TypePtr type = realType;
  *optional = false;
  if (auto inner = type->cast<c10::OptionalType>()) {
    *optional = true;
    type = inner->getElementType();
  }
  *kind = kindOf(type);
}

bool sameAliasSet(const c10::AliasInfo* a, const c10::AliasInfo* b) {
  if (!a || !b || !a->isWrite()) return false;
  for (const auto& set : a->beforeSets()) {
    if (b->beforeSets().count(set)) return true;
  }
  return false;
}

OpEntry makeEntry(const c10::OperatorHandle& handle) {
  const auto& schema = handle.schema();
  OpEntry entry{handle, schema.name() + (schema.overload_name().empty() ? "" : "." + schema.overload_name()), {}, {}, 0,
                false};
  for (const auto& arg : schema.arguments()) {
    ArgSpec spec;
    spec.name = arg.name();
    spec.camelName = camelCase(arg.name());
    describe(arg.real_type(), &spec.typeName, &spec.kind, &spec.optional);
    spec.fixedLength = arg.N();
    spec.kwargOnly = arg.kwarg_only();
    spec.writes = arg.alias_info() != nullptr && arg.alias_info()->isWrite();
    spec.defaultValue = arg.default_value();
    if (!spec.kwargOnly) ++entry.positionalCount;
    entry.args.push_back(std::move(spec));
  }
  for (const auto& ret : schema.returns()) {
    ReturnSpec spec;
    describe(ret.real_type(), &spec.typeName, &spec.kind, &spec.optional);
    spec.aliasedArg = -1;
    for (size_t i = 0; i < schema.arguments().size(); ++i) {
      if (sameAliasSet(ret.alias_info(), schema.arguments()[i].alias_info())) {
        spec.aliasedArg = static_cast<int>(i);
        break;
      }
    }
    entry.returns.push_back(std::move(spec));
  }
  entry.fusedOptimizer = schema.name().rfind("aten::_fused_", 0) == 0 && !entry.args.empty() &&
                         entry.args[0].name == "self" && entry.args[0].kind == Kind::TensorList;
  return entry;
}

const OpEntry& entryFor(const Napi::Value& id) {
  auto& table = opTable();
  int64_t index = id.IsNumber() ? id.As<Napi::Number>().Int64Value() : -1;
  if (index < 0 || index >= static_cast<int64_t>(table.size())) throw std::runtime_error("invalid operator id");
  return table[index];
}

const char* jsTypeName(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return v.IsArray() ? "array" : "object";
    case napi_function: return "function";
    case napi_bigint: return "bigint";
    default: return "value";
  }
}

[[noreturn]] void badArgument(const OpEntry& op, const ArgSpec& arg, const std::string& expected, const Napi::Value& got) {
  throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName + ") expects " +
                           expected + ", got " + jsTypeName(got));
}

int64_t toInt(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // Beyond ±2^63 the conversion to int64 is undefined behaviour.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9223372036854775808.0) return static_cast<int64_t>(d);
    const bool whole = std::isfinite(d) && d == std::floor(d);
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName +
                             ") expects an integer" + (whole ? " within int64" : "") + ", got " +
                             v.ToString().Utf8Value());
  }
  if (v.IsBigInt()) {
    bool lossless;
    int64_t value = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return value;
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName +
                             ") expects an integer within int64, got " + v.ToString().Utf8Value() + "n");
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  badArgument(op, arg, "an integer", v);
}

double toDouble(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  badArgument(op, arg, "a number", v);
}

bool toBool(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  badArgument(op, arg, "a boolean", v);
}

c10::Scalar toScalar(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsBoolean()) return c10::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) {
    bool lossless;
    int64_t value = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return c10::Scalar(value);
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName +
                             ") expects an integer within int64, got " + v.ToString().Utf8Value() + "n");
  }
  if (v.IsNumber()) {
    // Like Python, a whole number is an integer Scalar so integer tensors stay integer.
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) return c10::Scalar(static_cast<int64_t>(d));
    return c10::Scalar(d);
  }
  badArgument(op, arg, "a number or boolean", v);
}

at::Tensor toTensor(Napi::Env env, const OpEntry& op, const ArgSpec& arg, const Napi::Value& v, bool knownObject = false) {
  int64_t handle;
  if (!(knownObject || v.IsObject()) || !readHandle(env, v, &handle)) badArgument(op, arg, "a Tensor", v);
  try {
    return slab().get(handle);
  } catch (const std::exception& e) {
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "': " + e.what());
  }
}

std::string toString(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  if (!v.IsString()) badArgument(op, arg, "a string", v);
  return v.As<Napi::String>().Utf8Value();
}

template <typename T, typename Convert>
c10::List<T> toList(const OpEntry& op, const ArgSpec& arg, const Napi::Value& v, Convert convert, bool broadcastScalar) {
  c10::List<T> list;
  if (v.IsArray()) {
    auto array = v.As<Napi::Array>();
    uint32_t length = array.Length();
    // int[1] (dims of reductions) takes any length; int[N>1] (kernel sizes, strides) takes 1 or N.
    if (arg.fixedLength && *arg.fixedLength > 1 && length != 1 && static_cast<int32_t>(length) != *arg.fixedLength) {
      throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName + ") expects " +
                               std::to_string(*arg.fixedLength) + " values, got " + std::to_string(length));
    }
    list.reserve(length);
    for (uint32_t i = 0; i < length; ++i) list.push_back(convert(array.Get(i)));
    if (arg.fixedLength && length == 1 && *arg.fixedLength > 1) {
      while (static_cast<int32_t>(list.size()) < *arg.fixedLength) list.push_back(list.get(0));
    }
    return list;
  }
  if (!broadcastScalar) badArgument(op, arg, "an array", v);
  T single = convert(v);
  int32_t count = arg.fixedLength ? *arg.fixedLength : 1;
  for (int32_t i = 0; i < count; ++i) list.push_back(single);
  return list;
}

c10::IValue toIValue(Napi::Env env, const OpEntry& op, const ArgSpec& arg, const Napi::Value& v) {
  napi_valuetype type = v.Type();
  if (arg.kind == Kind::Tensor && type == napi_object) return toTensor(env, op, arg, v, true);
  if (type == napi_null || type == napi_undefined) {
    if (arg.optional) return c10::IValue();
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' (" + arg.typeName + ") must not be " +
                             jsTypeName(v));
  }
  switch (arg.kind) {
    case Kind::Tensor: return toTensor(env, op, arg, v);
    case Kind::Int: return toInt(op, arg, v);
    case Kind::Float: return toDouble(op, arg, v);
    case Kind::Bool: return toBool(op, arg, v);
    case Kind::Scalar: return toScalar(op, arg, v);
    case Kind::String: return toString(op, arg, v);
    case Kind::ScalarType: return scalarTypeFromName(toString(op, arg, v));
    case Kind::Layout: return layoutFromName(toString(op, arg, v));
    case Kind::MemoryFormat: return memoryFormatFromName(toString(op, arg, v));
    case Kind::Device: return c10::Device(toString(op, arg, v));
    case Kind::IntList:
      return toList<int64_t>(op, arg, v, [&](const Napi::Value& e) { return toInt(op, arg, e); }, true);
    case Kind::FloatList:
      return toList<double>(op, arg, v, [&](const Napi::Value& e) { return toDouble(op, arg, e); }, true);
    case Kind::BoolList:
      return toList<bool>(op, arg, v, [&](const Napi::Value& e) { return toBool(op, arg, e); }, true);
    case Kind::ScalarList:
      return toList<c10::Scalar>(op, arg, v, [&](const Napi::Value& e) { return toScalar(op, arg, e); }, true);
    case Kind::TensorList:
      return toList<at::Tensor>(op, arg, v, [&](const Napi::Value& e) { return toTensor(env, op, arg, e); }, false);
    case Kind::OptionalTensorList:
      return toList<std::optional<at::Tensor>>(
          op, arg, v,
          [&](const Napi::Value& e) -> std::optional<at::Tensor> {
            if (e.IsNull() || e.IsUndefined()) return std::nullopt;
            return toTensor(env, op, arg, e);
          },
          false);
    case Kind::Generator:
      badArgument(op, arg, "null (custom generators are not supported; use manualSeed)", v);
    case Kind::Unsupported:
      break;
  }
  throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' has type " + arg.typeName +
                           ", which finetune cannot pass from JavaScript");
}

Napi::Value toJs(Napi::Env env, const c10::IValue& value) {
  if (value.isNone()) return env.Null();
  if (value.isTensor()) {
    const auto& t = value.toTensor();
    if (!t.defined()) return env.Null();
    return Napi::Number::New(env, slab().insert(t));
  }
  if (value.isTensorList()) {
    auto list = value.toTensorList();
    auto array = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) array.Set(i, toJs(env, list.get(i)));
    return array;
  }
  if (value.isList()) {
    auto list = value.toListRef();
    auto array = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) array.Set(i, toJs(env, list[i]));
    return array;
  }
  if (value.isBool()) return Napi::Boolean::New(env, value.toBool());
  if (value.isInt()) return Napi::Number::New(env, static_cast<double>(value.toInt()));
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isSymInt()) return Napi::Number::New(env, static_cast<double>(value.toSymInt().expect_int()));
  if (value.isScalar()) return scalarToJs(env, value.toScalar());
  if (value.isString()) return Napi::String::New(env, value.toStringRef());
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    auto array = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) array.Set(i, toJs(env, elements[i]));
    return array;
  }
  if (value.isDevice()) return Napi::String::New(env, value.toDevice().str());
  throw std::runtime_error("cannot return a value of type " + value.tagKind() + " to JavaScript");
}

size_t argIndexByName(const OpEntry& op, const std::string& key) {
  for (size_t i = 0; i < op.args.size(); ++i) {
    if (op.args[i].name == key || op.args[i].camelName == key) return i;
  }
  std::string names;
  for (const auto& a : op.args) names += (names.empty() ? "" : ", ") + a.name;
  throw std::runtime_error(op.qualifiedName + ": unknown keyword argument '" + key + "' (arguments: " + names + ")");
}

std::string signatureOf(const OpEntry& op) {
  std::string s;
  for (size_t i = 0; i < op.positionalCount; ++i) s += (i ? ", " : "") + op.args[i].name;
  return s;
}

// libtorch's kernels trust a sparse tensor's indices: to_dense and friends read and write
// wherever they point. The _unsafe constructors (_sparse_coo_tensor_unsafe,
// _sparse_csr_tensor_unsafe, …, _sparse_coo_tensor_with_dims_and_tensors) skip the check,
// and in-place writes through _indices() or sparse_resize_ can break a valid one. So every
// sparse tensor that crosses the generic call, going in or coming out, is checked with
// libtorch's own validators; dense tensors cost one layout comparison.
void checkSparseInvariants(const at::Tensor& t) {
  switch (t.layout()) {
    case c10::kStrided: return;
    case c10::kSparse:
      at::_validate_sparse_coo_tensor_args(t._indices(), t._values(), t.sizes(), t.is_coalesced());
      return;
    case c10::kSparseCsr:
    case c10::kSparseBsr:
      at::_validate_sparse_compressed_tensor_args(t.crow_indices(), t.col_indices(), t.values(), t.sizes(), t.layout());
      return;
    case c10::kSparseCsc:
    case c10::kSparseBsc:
      at::_validate_sparse_compressed_tensor_args(t.ccol_indices(), t.row_indices(), t.values(), t.sizes(), t.layout());
      return;
    default: return;
  }
}

void checkSparseInvariants(const c10::IValue& value) {
  if (value.isTensor()) {
    checkSparseInvariants(value.toTensor());
  } else if (value.isTensorList()) {
    for (const at::Tensor& t : value.toTensorList().vec()) checkSparseInvariants(t);
  } else if (value.isList() || value.isTuple()) {
    const auto& elements = value.isList() ? value.toListRef() : value.toTupleRef().elements();
    for (const auto& element : elements) {
      if (element.isTensor()) checkSparseInvariants(element.toTensor());
    }
  }
}

// The fused optimizer kernels (_fused_sgd_, _fused_adam_, _fused_adamw_, _fused_adagrad_ and their
// functional forms) walk each parameter's gradient and state with the parameter's element count
// and read step counts, scales and learning rates as one element: a gradient of another shape
// segfaulted. Their lists must match `self` tensor by tensor (empty for unused state), the step
// counts and scalar tensors hold one element.
void checkFusedOptimizerArgs(const OpEntry& op, const torch::jit::Stack& stack) {
  const auto params = stack[0].toTensorList().vec();
  auto fail = [&](const ArgSpec& arg, const std::string& what) {
    throw std::runtime_error(op.qualifiedName + ": argument '" + arg.name + "' " + what);
  };
  for (size_t i = 1; i < op.args.size(); ++i) {
    const ArgSpec& arg = op.args[i];
    const c10::IValue& value = stack[i];
    if (value.isTensor()) {
      if (value.toTensor().defined() && value.toTensor().numel() != 1) {
        fail(arg, "must hold one element, got shape " + c10::str(value.toTensor().sizes()));
      }
      continue;
    }
    if (!value.isTensorList() || arg.name == "out") continue;
    const auto list = value.toTensorList().vec();
    if (list.empty()) continue;
    if (list.size() != params.size()) {
      fail(arg, "has " + std::to_string(list.size()) + " tensors but 'self' has " + std::to_string(params.size()));
    }
    for (size_t k = 0; k < list.size(); ++k) {
      if (arg.name == "state_steps") {
        if (list[k].numel() != 1) fail(arg, "[" + std::to_string(k) + "] must hold one element, got shape " + c10::str(list[k].sizes()));
      } else if (list[k].sizes() != params[k].sizes() || list[k].scalar_type() != params[k].scalar_type() ||
                 list[k].device() != params[k].device()) {
        fail(arg, "[" + std::to_string(k) + "] (" + scalarTypeName(list[k].scalar_type()) + " of shape " +
                      c10::str(list[k].sizes()) + ") does not match self[" + std::to_string(k) + "] (" +
                      scalarTypeName(params[k].scalar_type()) + " of shape " + c10::str(params[k].sizes()) + ")");
      }
    }
  }
}

}  // namespace

Napi::Value resolveOp(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw std::runtime_error("resolveOp(name, overload?) needs a name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if (name.find("::") == std::string::npos) name = "aten::" + name;
  std::string key = name + "." + overload;
  auto& ids = opIds();
  auto found = ids.find(key);
  if (found != ids.end()) return Napi::Number::New(env, found->second);
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    std::string overloads;
    for (const auto& op : c10::Dispatcher::singleton().getAllOpNames()) {
      if (op.name == name) overloads += (overloads.empty() ? "" : ", ") + (op.overload_name.empty() ? "''" : op.overload_name);
    }
    throw std::runtime_error("unknown operator " + name + (overload.empty() ? "" : "." + overload) +
                             (overloads.empty() ? "" : " (overloads: " + overloads + ")"));
  }
  auto& table = opTable();
  table.push_back(makeEntry(*handle));
  int32_t id = static_cast<int32_t>(table.size() - 1);
  ids.emplace(key, id);
  return Napi::Number::New(env, id);
}

// callOp(id, kwargs, ...positional). Positional arguments come as the call's own
// arguments, not an array, so the hot path allocates nothing in JavaScript.
// Returns undefined for no result, the bare value for one result and an array for
// several. Tensors come back as handles; results that alias an argument (in-place
// and out= forms) come back as null so the caller returns its own argument object.
Napi::Value callOp(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OpEntry& op = entryFor(info[0]);
  size_t argCount = op.args.size();
  c10::SmallVector<Napi::Value, 16> given(argCount);
  c10::SmallVector<bool, 16> present(argCount, false);

  size_t count = info.Length() > 2 ? info.Length() - 2 : 0;
  if (count > op.positionalCount) {
    throw std::runtime_error(op.qualifiedName + " takes at most " + std::to_string(op.positionalCount) +
                             " positional arguments (" + signatureOf(op) + ") but " + std::to_string(count) +
                             " were given");
  }
  for (size_t i = 0; i < count; ++i) {
    Napi::Value v = info[i + 2];
    if (v.Type() == napi_undefined) continue;
    given[i] = v;
    present[i] = true;
  }
  if (info.Length() > 1 && info[1].Type() == napi_object && !info[1].IsArray()) {
    auto kwargs = info[1].As<Napi::Object>();
    auto keys = kwargs.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      Napi::Value key = keys.Get(i);
      Napi::Value v = kwargs.Get(key);
      if (v.IsUndefined()) continue;
      size_t index = argIndexByName(op, key.As<Napi::String>().Utf8Value());
      if (present[index]) {
        throw std::runtime_error(op.qualifiedName + ": argument '" + op.args[index].name + "' given twice");
      }
      given[index] = v;
      present[index] = true;
    }
  } else if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    throw std::runtime_error(op.qualifiedName + ": keyword arguments must be a plain object");
  }

  torch::jit::Stack stack;
  stack.reserve(argCount);
  for (size_t i = 0; i < argCount; ++i) {
    const ArgSpec& arg = op.args[i];
    if (present[i]) {
      stack.push_back(toIValue(env, op, arg, given[i]));
    } else if (arg.defaultValue) {
      stack.push_back(*arg.defaultValue);
    } else if (arg.optional && arg.kwargOnly) {
      stack.emplace_back();
    } else {
      throw std::runtime_error(op.qualifiedName + ": missing required argument '" + arg.name + "' (" + arg.typeName +
                               ")");
    }
  }

  StorageWatch watch;
  const bool watching = anySharedBuffers();
  if (op.fusedOptimizer) checkFusedOptimizerArgs(op, stack);
  try {
    for (size_t i = 0; i < argCount; ++i) {
      checkSparseInvariants(stack[i]);
      if (!watching || !op.args[i].writes) continue;
      if (stack[i].isTensor()) watch.add(stack[i].toTensor());
      if (stack[i].isTensorList()) for (const at::Tensor& t : stack[i].toTensorList().vec()) watch.add(t);
    }
    op.handle.callBoxed(stack);
    for (const auto& value : stack) checkSparseInvariants(value);
  } catch (const c10::Error& e) {
    watch.detachMoved(env);
    throw std::runtime_error(op.qualifiedName + ": " + e.what_without_backtrace());
  } catch (...) {
    watch.detachMoved(env);
    throw;
  }
  watch.detachMoved(env);

  Napi::Value result;
  size_t returnCount = op.returns.size();
  if (returnCount == 0) {
    result = env.Undefined();
  } else if (returnCount == 1) {
    result = op.returns[0].aliasedArg >= 0 ? env.Null() : toJs(env, stack[0]);
  } else {
    auto array = Napi::Array::New(env, returnCount);
    for (size_t i = 0; i < returnCount; ++i) {
      array.Set(i, op.returns[i].aliasedArg >= 0 ? env.Null() : toJs(env, stack[i]));
    }
    result = array;
  }
  slab().reportExternalMemory(env);
  return result;
}

Napi::Value opInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const OpEntry& op = entryFor(info[0]);
  const auto& schema = op.handle.schema();
  auto out = Napi::Object::New(env);
  out.Set("name", schema.name());
  out.Set("overload", schema.overload_name());
  out.Set("schema", c10::toString(schema));
  auto args = Napi::Array::New(env, op.args.size());
  for (size_t i = 0; i < op.args.size(); ++i) {
    const auto& a = op.args[i];
    auto o = Napi::Object::New(env);
    o.Set("name", a.name);
    o.Set("type", a.typeName);
    o.Set("optional", a.optional);
    o.Set("kwargOnly", a.kwargOnly);
    o.Set("hasDefault", a.defaultValue.has_value());
    o.Set("supported", a.kind != Kind::Unsupported);
    o.Set("writes", schema.arguments()[i].alias_info() != nullptr && schema.arguments()[i].alias_info()->isWrite());
    if (a.fixedLength) o.Set("length", *a.fixedLength);
    args.Set(i, o);
  }
  out.Set("args", args);
  auto returns = Napi::Array::New(env, op.returns.size());
  for (size_t i = 0; i < op.returns.size(); ++i) {
    auto o = Napi::Object::New(env);
    o.Set("type", op.returns[i].typeName);
    o.Set("aliasedArg", op.returns[i].aliasedArg);
    o.Set("supported", op.returns[i].kind != Kind::Unsupported);
    returns.Set(i, o);
  }
  out.Set("returns", returns);
  return out;
}

Napi::Value listOps(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto names = c10::Dispatcher::singleton().getAllOpNames();
  auto array = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, names[i].name);
    pair.Set(1u, names[i].overload_name);
    array.Set(i, pair);
  }
  return array;
}

}  // namespace finetune
