#include "values.h"

#include <stdexcept>
#include <unordered_map>

namespace finetune {

namespace {
Napi::Reference<Napi::Value>& handleKey() {
  static Napi::Reference<Napi::Value> key;
  return key;
}

std::string joinKeys(const std::unordered_map<std::string, int>& names) {
  std::string out;
  for (const auto& [name, _] : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}
}  // namespace

c10::ScalarType scalarTypeFromName(const std::string& name) {
  static const std::unordered_map<std::string, c10::ScalarType> types = {
      {"float32", at::kFloat},      {"float", at::kFloat},        {"float64", at::kDouble},
      {"double", at::kDouble},      {"float16", at::kHalf},       {"half", at::kHalf},
      {"bfloat16", at::kBFloat16},  {"int64", at::kLong},         {"long", at::kLong},
      {"int32", at::kInt},          {"int", at::kInt},            {"int16", at::kShort},
      {"short", at::kShort},        {"int8", at::kChar},          {"uint8", at::kByte},
      {"bool", at::kBool},          {"complex64", at::kComplexFloat},
      {"complex128", at::kComplexDouble},
  };
  auto it = types.find(name);
  if (it == types.end()) {
    throw std::runtime_error("unknown dtype '" + name +
                             "' (expected float32, float64, float16, bfloat16, int64, int32, int16, "
                             "int8, uint8, bool, complex64 or complex128)");
  }
  return it->second;
}

std::string scalarTypeName(c10::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(type);
  }
}

c10::Layout layoutFromName(const std::string& name) {
  static const std::unordered_map<std::string, int> layouts = {
      {"strided", static_cast<int>(c10::kStrided)}, {"sparse_coo", static_cast<int>(c10::kSparse)}};
  auto it = layouts.find(name);
  if (it == layouts.end()) throw std::runtime_error("unknown layout '" + name + "' (expected " + joinKeys(layouts) + ")");
  return static_cast<c10::Layout>(it->second);
}

c10::MemoryFormat memoryFormatFromName(const std::string& name) {
  static const std::unordered_map<std::string, int> formats = {
      {"contiguous_format", static_cast<int>(c10::MemoryFormat::Contiguous)},
      {"preserve_format", static_cast<int>(c10::MemoryFormat::Preserve)},
      {"channels_last", static_cast<int>(c10::MemoryFormat::ChannelsLast)},
      {"channels_last_3d", static_cast<int>(c10::MemoryFormat::ChannelsLast3d)}};
  auto it = formats.find(name);
  if (it == formats.end()) throw std::runtime_error("unknown memory format '" + name + "' (expected " + joinKeys(formats) + ")");
  return static_cast<c10::MemoryFormat>(it->second);
}

void setHandleKey(Napi::Env env, Napi::Value key) { handleKey() = Napi::Persistent(key); }

bool readHandle(Napi::Env env, const Napi::Value& value, int64_t* handle) {
  if (handleKey().IsEmpty()) return false;
  napi_value result;
  if (napi_get_property(env, value, handleKey().Value(), &result) != napi_ok) return false;
  double number;
  if (napi_get_value_double(env, result, &number) != napi_ok) return false;
  *handle = static_cast<int64_t>(number);
  return true;
}

Napi::Value scalarToJs(Napi::Env env, const c10::Scalar& scalar) {
  if (scalar.isBoolean()) return Napi::Boolean::New(env, scalar.toBool());
  if (scalar.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(scalar.toLong()));
  if (scalar.isComplex()) throw std::runtime_error("complex scalars cannot be returned to JavaScript");
  return Napi::Number::New(env, scalar.toDouble());
}

}  // namespace finetune
