// purple_bridge.node: a headless libpurple core in this Node process, driven on the Node thread.
// This file: the module, the bridge's lifecycle (open → start → close), plugins and prefs.
// The TypeScript face is src/bridge/api.ts; the loader is src/bridge/purple-bridge.ts.
#include "api.h"

#include <dlfcn.h>

#include <cstdio>

namespace bridge {

State& state() {
  static State s;
  return s;
}

bool RequireOpen(Napi::Env env) {
  if (state().open) return true;
  ThrowError(env, state().closed ? "the bridge is closed" : "the bridge is not open");
  return false;
}

namespace {

// ---- core UI ops ----

void UiPrefsInit() {
  // A headless host keeps no conversation logs (libpurple logs every IM by default).
  purple_prefs_add_none("/purple/logging");
  for (const char* pref : {"/purple/logging/log_ims", "/purple/logging/log_chats", "/purple/logging/log_system"}) {
    purple_prefs_add_bool(pref, FALSE);
    purple_prefs_set_bool(pref, FALSE);
  }
  // With these on, purple_network_init and purple_core_init send UPnP (SSDP multicast) and
  // NAT-PMP (to the gateway) probes: a client meant to be reachable only as an onion must not
  // announce itself on the LAN, and tests must not leave 127.0.0.1.
  // libpurpleNetworkDefaults leaves them to libpurple (TRUE): a test then shows that the plugin
  // turns them off itself while an onion account is in use.
  if (state().libpurpleNetworkDefaults) return;
  purple_prefs_add_none("/purple/network");
  for (const char* pref : {"/purple/network/map_ports", "/purple/network/auto_ip"}) {
    purple_prefs_add_bool(pref, FALSE);
    purple_prefs_set_bool(pref, FALSE);
  }
}

void DebugPrint(PurpleDebugLevel, const char* category, const char* text) {
  std::fprintf(stderr, "%s: %s", category ? category : "-", text);
}

gboolean DebugEnabled(PurpleDebugLevel, const char*) { return state().debug; }

PurpleDebugUiOps debugOps = {DebugPrint, DebugEnabled, nullptr, nullptr, nullptr, nullptr};

// Empty, but present: libpurple fills in its own save functions only for a UI that has blist
// ops; without them blist.xml is never written.
PurpleBlistUiOps blistOps = {};

void UiInit() {
  purple_blist_set_ui_ops(&blistOps);
  InstallUiOps();
  purple_xfers_set_ui_ops(XferUiOps());
}

PurpleCoreUiOps coreOps = {UiPrefsInit, nullptr, UiInit, nullptr, nullptr, nullptr, nullptr, nullptr};

void Shutdown() {
  PumpStop();
  EventsStop();
  state().open = false;
  state().closed = true;
}

// A process that exits without close(): stop touching libuv handles that are going away.
// The threadsafe function is not released here (Node finalizes it itself).
void CleanupHook(void*) {
  if (!state().open) return;
  PumpStop();
  state().open = false;
  state().closed = true;
}

// ---- lifecycle ----

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State& s = state();
  if (s.open) return ThrowError(env, "a bridge is already open in this process (libpurple runs once per process)");
  if (s.closed) return ThrowError(env, "this process already closed its bridge: libpurple cannot start twice in one process");
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    return ThrowType(env, "open(options, emit): options must be an object and emit a function");
  }
  Napi::Object options = info[0].As<Napi::Object>();
  Napi::Value userDir = options.Get("userDir");
  if (!userDir.IsString() || userDir.As<Napi::String>().Utf8Value().empty()) {
    return ThrowType(env, "options.userDir must be a non-empty string");
  }
  std::vector<std::string> pluginDirs;
  Napi::Value dirs = options.Get("pluginDirs");
  if (!dirs.IsUndefined() && !dirs.IsNull()) {
    if (!dirs.IsArray()) return ThrowType(env, "options.pluginDirs must be an array of strings");
    Napi::Array a = dirs.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!a.Get(i).IsString()) return ThrowType(env, "options.pluginDirs must be an array of strings");
      pluginDirs.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  Napi::Value ui = options.Get("ui");
  if (!ui.IsUndefined()) {
    if (!ui.IsString() || ui.As<Napi::String>().Utf8Value().empty()) return ThrowType(env, "options.ui must be a non-empty string");
    s.ui = ui.As<Napi::String>().Utf8Value();
  }
  s.debug = options.Get("debug").ToBoolean().Value();
  s.libpurpleNetworkDefaults = options.Get("libpurpleNetworkDefaults").ToBoolean().Value();

  // Node loads addons RTLD_LOCAL, and Debian's prpl plugins are not linked against libpurple:
  // without its symbols made global, prpl-jabber fails to load and XMPP is "unknown".
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&purple_core_init), &self) == 0 || self.dli_fname == nullptr) {
    return ThrowError(env, "cannot find libpurple's path (dladdr)");
  }
  s.libpurplePath = self.dli_fname;
  if (dlopen(self.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) == nullptr) {
    return ThrowError(env, std::string("cannot make libpurple's symbols global: ") + dlerror());
  }

  EventsStart(env, info[1].As<Napi::Function>());
  napi_add_env_cleanup_hook(env, CleanupHook, nullptr);

  // prpl-jabber's init creates libpurple's media manager, which initialises GStreamer, which
  // forks gst-plugin-scanner to build its registry when the cache is new or stale. The bridge
  // does no voice or video: GStreamer gets no plugins to scan, scans in-process, and keeps its
  // (empty) registry in the user dir rather than the user's cache. A caller's values win.
  std::string dir = userDir.As<Napi::String>().Utf8Value();
  g_setenv("GST_PLUGIN_SYSTEM_PATH_1_0", (dir + "/no-gstreamer-plugins").c_str(), FALSE);
  g_setenv("GST_PLUGIN_PATH_1_0", (dir + "/no-gstreamer-plugins").c_str(), FALSE);
  g_setenv("GST_REGISTRY_1_0", (dir + "/gstreamer-registry.bin").c_str(), FALSE);
  g_setenv("GST_REGISTRY_FORK", "no", FALSE);

  purple_util_set_user_dir(userDir.As<Napi::String>().Utf8Value().c_str());
  purple_debug_set_enabled(s.debug);
  purple_debug_set_ui_ops(&debugOps);
  purple_core_set_ui_ops(&coreOps);
  purple_eventloop_set_ui_ops(EventLoopUiOps());
  // Before core init: it already resolves (purple_network_get_my_ip) and must never fork.
  InstallResolvers();
  // The system plugin dir (with prpl-jabber) is added by purple_plugins_init itself.
  for (const std::string& dir : pluginDirs) purple_plugins_add_search_path(dir.c_str());

  if (!purple_core_init(s.ui.c_str())) {
    EventsStop();
    return ThrowError(env, "libpurple failed to initialise (run with debug: true to see why)");
  }
  purple_set_blist(purple_blist_new());
  purple_blist_load();
  ConnectSignals();
  s.open = true;
  PumpStart(env);
  return env.Undefined();
}

Napi::Value Start(const Napi::CallbackInfo& info) {
  if (!RequireOpen(info.Env())) return Napi::Value();
  // As Pidgin does after loading its saved plugins: connect the accounts enabled for this UI.
  if (!state().started) {
    state().started = true;
    purple_accounts_restore_current_statuses();
  }
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  if (!state().open) return info.Env().Undefined();
  // Signals stay connected: quitting signs accounts off, and JS should hear it. Quitting writes accounts.xml, blist.xml and prefs.xml and disconnects every account.
  purple_core_quit();
  CloseAllRequests();
  // Last in the queue: tells JS that every event from before the close has been delivered.
  Emit("closed", "{}");
  Shutdown();
  return info.Env().Undefined();
}

Napi::Value Flush(const Napi::CallbackInfo& info) {
  if (!RequireOpen(info.Env())) return Napi::Value();
  return Napi::Number::New(info.Env(), RunPendingSaves(state().libpurplePath.c_str()));
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), purple_core_get_version()); }

// ---- plugins ----

Napi::Object PluginObject(Napi::Env env, PurplePlugin* plugin) {
  Napi::Object o = Napi::Object::New(env);
  PurplePluginInfo* pi = plugin->info;
  auto s = [&](const char* v) { return v ? Napi::Value(Napi::String::New(env, v)) : env.Null(); };
  o.Set("id", s(pi ? pi->id : nullptr));
  o.Set("name", s(pi ? pi->name : nullptr));
  o.Set("version", s(pi ? pi->version : nullptr));
  o.Set("path", s(plugin->path));
  o.Set("loaded", Napi::Boolean::New(env, purple_plugin_is_loaded(plugin)));
  Napi::Array actions = Napi::Array::New(env);
  // A protocol's actions are per connection (their context must be one): not listed here.
  if (purple_plugin_is_loaded(plugin) && pi && pi->actions && !PURPLE_IS_PROTOCOL_PLUGIN(plugin)) {
    GList* list = pi->actions(plugin, nullptr);
    uint32_t n = 0;
    for (GList* l = list; l; l = l->next) {
      auto* a = static_cast<PurplePluginAction*>(l->data);
      if (a == nullptr) continue;  // a menu separator
      actions.Set(n++, Napi::String::New(env, a->label));
      purple_plugin_action_free(a);
    }
    g_list_free(list);
  }
  o.Set("actions", actions);
  return o;
}

Napi::Value LoadPlugin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!RequireOpen(env) || !ArgString(info, 0, "path", &path)) return Napi::Value();
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) return ThrowError(env, "cannot load plugin " + path + ": no such file");
  PurplePlugin* plugin = purple_plugin_probe(path.c_str());
  if (plugin == nullptr) return ThrowError(env, "cannot load plugin " + path + ": libpurple did not recognise it as a plugin (debug: true tells why)");
  if (plugin->error != nullptr && !purple_plugin_is_loaded(plugin)) {
    return ThrowError(env, "cannot load plugin " + path + ": " + plugin->error);
  }
  if (!purple_plugin_is_loaded(plugin) && !purple_plugin_load(plugin)) {
    return ThrowError(env, "cannot load plugin " + path + ": " + (plugin->error ? plugin->error : "its load function refused"));
  }
  return PluginObject(env, plugin);
}

PurplePlugin* ArgPlugin(const Napi::CallbackInfo& info, size_t i) {
  std::string id;
  if (!ArgString(info, i, "plugin id", &id)) return nullptr;
  PurplePlugin* plugin = purple_plugins_find_with_id(id.c_str());
  if (plugin == nullptr) ThrowError(info.Env(), "no such plugin: " + id);
  return plugin;
}

Napi::Value UnloadPlugin(const Napi::CallbackInfo& info) {
  if (!RequireOpen(info.Env())) return Napi::Value();
  PurplePlugin* plugin = ArgPlugin(info, 0);
  if (plugin == nullptr) return Napi::Value();
  bool ok = purple_plugin_is_loaded(plugin) && purple_plugin_unload(plugin);
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Value Plugins(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (GList* l = purple_plugins_get_all(); l; l = l->next) out.Set(n++, PluginObject(env, static_cast<PurplePlugin*>(l->data)));
  return out;
}

Napi::Value RunPluginAction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string label;
  if (!RequireOpen(env)) return Napi::Value();
  PurplePlugin* plugin = ArgPlugin(info, 0);
  if (plugin == nullptr || !ArgString(info, 1, "label", &label)) return Napi::Value();
  if (!purple_plugin_is_loaded(plugin)) return ThrowError(env, std::string("plugin ") + plugin->info->id + " is not loaded");
  if (PURPLE_IS_PROTOCOL_PLUGIN(plugin)) return ThrowError(env, std::string("plugin ") + plugin->info->id + " is a protocol: its actions belong to a connection");
  GList* list = plugin->info->actions ? plugin->info->actions(plugin, nullptr) : nullptr;
  PurplePluginAction* found = nullptr;
  std::string known;
  for (GList* l = list; l; l = l->next) {
    auto* a = static_cast<PurplePluginAction*>(l->data);
    if (a == nullptr) continue;
    if (found == nullptr && label == a->label) found = a;
    known += (known.empty() ? "" : ", ") + std::string(a->label);
  }
  if (found != nullptr) {
    found->plugin = plugin;
    found->context = nullptr;
    found->callback(found);
  }
  for (GList* l = list; l; l = l->next) {
    if (l->data) purple_plugin_action_free(static_cast<PurplePluginAction*>(l->data));
  }
  g_list_free(list);
  if (found == nullptr) {
    return ThrowError(env, std::string("plugin ") + plugin->info->id + " has no action \"" + label + "\" (actions: " +
                               (known.empty() ? "none" : known) + ")");
  }
  return env.Undefined();
}

// ---- prefs ----

Napi::Value GetPref(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!RequireOpen(env) || !ArgString(info, 0, "pref name", &name)) return Napi::Value();
  const char* n = name.c_str();
  if (!purple_prefs_exists(n)) return env.Null();
  switch (purple_prefs_get_type(n)) {
    case PURPLE_PREF_BOOLEAN: return Napi::Boolean::New(env, purple_prefs_get_bool(n));
    case PURPLE_PREF_INT: return Napi::Number::New(env, purple_prefs_get_int(n));
    case PURPLE_PREF_STRING:
    case PURPLE_PREF_PATH: {
      const char* v = purple_prefs_get_type(n) == PURPLE_PREF_PATH ? purple_prefs_get_path(n) : purple_prefs_get_string(n);
      return v ? Napi::Value(Napi::String::New(env, v)) : env.Null();
    }
    case PURPLE_PREF_STRING_LIST:
    case PURPLE_PREF_PATH_LIST: {
      bool paths = purple_prefs_get_type(n) == PURPLE_PREF_PATH_LIST;
      GList* list = paths ? purple_prefs_get_path_list(n) : purple_prefs_get_string_list(n);
      Napi::Array a = Napi::Array::New(env);
      uint32_t i = 0;
      for (GList* l = list; l; l = l->next) a.Set(i++, Napi::String::New(env, static_cast<char*>(l->data)));
      g_list_free_full(list, g_free);
      return a;
    }
    default: return env.Null();
  }
}

Napi::Value SetPref(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!RequireOpen(env) || !ArgString(info, 0, "pref name", &name)) return Napi::Value();
  if (name.size() < 2 || name[0] != '/') return ThrowType(env, "pref name must be a path like /plugins/core/<id>/<name>");
  Napi::Value v = info.Length() > 1 ? info[1] : env.Undefined();
  const char* n = name.c_str();
  bool exists = purple_prefs_exists(n);
  PurplePrefType type = exists ? purple_prefs_get_type(n) : PURPLE_PREF_NONE;
  if (!exists) {
    // libpurple adds a pref only under an existing parent.
    for (size_t slash = name.find('/', 1); slash != std::string::npos; slash = name.find('/', slash + 1)) {
      purple_prefs_add_none(name.substr(0, slash).c_str());
    }
    type = v.IsBoolean() ? PURPLE_PREF_BOOLEAN : v.IsNumber() ? PURPLE_PREF_INT : PURPLE_PREF_STRING;
  }
  switch (type) {
    case PURPLE_PREF_BOOLEAN:
      if (!v.IsBoolean()) return ThrowType(env, "pref " + name + " is a boolean");
      purple_prefs_set_bool(n, v.As<Napi::Boolean>().Value());
      break;
    case PURPLE_PREF_INT: {
      if (!v.IsNumber()) return ThrowType(env, "pref " + name + " is an integer");
      double d = v.As<Napi::Number>().DoubleValue();
      if (d != static_cast<double>(static_cast<int>(d))) return ThrowType(env, "pref " + name + " is an integer");
      purple_prefs_set_int(n, static_cast<int>(d));
      break;
    }
    case PURPLE_PREF_STRING:
    case PURPLE_PREF_PATH:
      if (!v.IsString()) return ThrowType(env, "pref " + name + " is a string");
      if (type == PURPLE_PREF_PATH) purple_prefs_set_path(n, v.As<Napi::String>().Utf8Value().c_str());
      else purple_prefs_set_string(n, v.As<Napi::String>().Utf8Value().c_str());
      break;
    default:
      return ThrowType(env, "pref " + name + " is a list or a folder: the bridge sets only booleans, integers and strings");
  }
  return env.Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Export<Open>(env, exports, "open");
  Export<Start>(env, exports, "start");
  Export<Close>(env, exports, "close");
  Export<Flush>(env, exports, "flush");
  Export<Version>(env, exports, "libpurpleVersion");
  Export<LoadPlugin>(env, exports, "loadPlugin");
  Export<UnloadPlugin>(env, exports, "unloadPlugin");
  Export<Plugins>(env, exports, "plugins");
  Export<RunPluginAction>(env, exports, "runPluginAction");
  Export<GetPref>(env, exports, "getPref");
  Export<SetPref>(env, exports, "setPref");
  ExportAccountFunctions(env, exports);
  ExportPresenceFunctions(env, exports);
  return exports;
}

}  // namespace bridge

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return bridge::Init(env, exports); }

NODE_API_MODULE(purple_bridge, InitAddon)
