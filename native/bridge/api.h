// Argument checking shared by the JS-facing functions. With C++ exceptions disabled an error is
// thrown into JS and the function returns an empty value; callers return right after.
#pragma once

#include "bridge.h"

namespace bridge {

inline Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return Napi::Value();
}

inline Napi::Value ThrowError(Napi::Env env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return Napi::Value();
}

/** Errors from C++ helpers: "TypeError:<text>" for bad arguments, plain text otherwise. */
inline Napi::Value ThrowText(Napi::Env env, const std::string& text) {
  if (text.rfind("TypeError:", 0) == 0) return ThrowType(env, text.substr(10));
  return ThrowError(env, text);
}

inline bool Failed(Napi::Env env) { return env.IsExceptionPending(); }

/** Argument `i` as a string; throws a TypeError naming `what` otherwise. */
inline bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out) {
  if (i >= info.Length() || !info[i].IsString()) {
    ThrowType(info.Env(), std::string(what) + " must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

/** An optional string argument: absent, undefined or null give `fallback`. */
inline bool ArgOptString(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out,
                         bool* present = nullptr) {
  if (present) *present = false;
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return true;
  if (present) *present = true;
  return ArgString(info, i, what, out);
}

inline bool ArgId(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t* out) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(info.Env(), std::string(what) + " must be a number");
    return false;
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0 || v != static_cast<double>(static_cast<uint32_t>(v))) {
    ThrowType(info.Env(), std::string(what) + " must be a non-negative integer");
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

/** Throws unless the bridge is open. */
bool RequireOpen(Napi::Env env);

/** The account named by argument `i` ({ username, protocol? }); throws "no such account: …". */
PurpleAccount* ArgAccount(const Napi::CallbackInfo& info, size_t i);
/** As ArgAccount, and connected; throws "… is not connected". */
PurpleConnection* ArgConnection(const Napi::CallbackInfo& info, size_t i, PurpleAccount** account = nullptr);

Napi::Object AccountInfo(Napi::Env env, PurpleAccount* account);

// accounts.cc: the functions exported to JS.
void ExportAccountFunctions(Napi::Env env, Napi::Object exports);
// presence.cc: icon and idleness.
void ExportPresenceFunctions(Napi::Env env, Napi::Object exports);

/** Wraps every exported function: a JS → libpurple call may have added GLib sources. */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Woken(const Napi::CallbackInfo& info) {
  Napi::Value result = F(info);
  PumpWake();
  return result;
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, Woken<F>, name));
}

}  // namespace bridge
