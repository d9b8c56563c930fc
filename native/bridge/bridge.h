// Shared by the bridge's parts: libpurple hosted in Node, driven on the Node thread.
// Everything here runs on that one thread (libpurple is not thread-safe).
#pragma once

#include <napi.h>
#include <purple.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bridge {

// ---- JSON for events (parsed by the loader; keeps N-API values out of GLib dispatch) ----
class Json {
 public:
  Json& str(const char* key, const char* value);
  Json& str(const char* key, const std::string& value) { return str(key, value.c_str()); }
  Json& num(const char* key, double value);
  Json& boolean(const char* key, bool value);
  Json& null(const char* key);
  /** A value already encoded as JSON. */
  Json& raw(const char* key, const std::string& json);
  Json& account(PurpleAccount* account);
  std::string done() const { return body_ + "}"; }
  static std::string quote(const char* s);
  static std::string array(const std::vector<std::string>& items);

 private:
  void key(const char* k);
  std::string body_ = "{";
};

// ---- events.cc: libpurple → JS, never re-entering JS inside a GLib dispatch ----
void EventsStart(Napi::Env env, Napi::Function emit);
void EventsStop();
void Emit(const char* name, const std::string& json);

// ---- pump.cc: GLib's default main context driven by libuv ----
void PumpStart(Napi::Env env);
void PumpStop();
/** After a JS → libpurple call: sources added on this thread do not wake GLib by themselves. */
void PumpWake();

// ---- eventloop.cc ----
PurpleEventLoopUiOps* EventLoopUiOps();
/** Runs libpurple's pending delayed saves now; returns how many ran. */
int RunPendingSaves(const char* libpurplePath);

// ---- resolver.cc ----
void InstallResolvers();

// ---- uiops.cc: account, notify, request ops ----
void InstallUiOps();
bool RespondAuthorization(uint32_t id, bool accept);
/** Answers request `id` with a JS value checked against its kind; an error text, or "" when done. */
std::string AnswerRequest(Napi::Value answer, uint32_t id);
void CloseAllRequests();
/** Answers request `id` from C++: `text` for input/file/folder, `index` for choice/action. */
void FinishRequest(uint32_t id, bool cancelled, const char* text, int index);
/** The pending request whose user_data is `data` (file transfers ask through requests). */
uint32_t FindRequestFor(void* data, bool* isFile);

// ---- xfer.cc ----
PurpleXferUiOps* XferUiOps();
void XferConnectSignals(void* handle);
/** Returns an error text or "". */
std::string AcceptFile(uint32_t id, const char* destPath);
/** Called by uiops.cc when a file request for a transfer arrives: a destination known yet? */
const char* XferDestinationFor(PurpleXfer* xfer);

// ---- signals.cc ----
void ConnectSignals();
void DisconnectSignals();

// ---- shared state ----
struct State {
  std::string ui = "purple-onion-bridge";
  bool debug = false;
  /** Leave /purple/network/map_ports and auto_ip at libpurple's defaults (BridgeOptions). */
  bool libpurpleNetworkDefaults = false;
  bool open = false;
  bool closed = false;
  bool started = false;
  std::string libpurplePath;
};
State& state();
/** The handle signals are connected on. */
void* SignalHandle();

}  // namespace bridge
