// The JS-facing functions about what an account shows of its user: its icon (the avatar
// prpl-jabber publishes as a vCard photo, XEP-0153, and with PEP as XEP-0084) and idleness.
#include "api.h"

#include <ctime>

namespace bridge {

namespace {

// setIcon(ref, imagePath | null): the bytes of the file become the account's icon (libpurple
// keeps its own copy in its icon cache and tells the prpl); null clears it.
Napi::Value SetIcon(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  std::string path;
  bool present = false;
  if (!ArgOptString(info, 1, "imagePath", &path, &present)) return Napi::Value();
  if (!present) {
    purple_buddy_icons_set_account_icon(account, nullptr, 0);
    return env.Undefined();
  }
  gchar* data = nullptr;
  gsize len = 0;
  GError* error = nullptr;
  if (!g_file_get_contents(path.c_str(), &data, &len, &error)) {
    std::string why = error->message;
    g_error_free(error);
    return ThrowError(env, "cannot read " + path + ": " + why);
  }
  // Takes the data (g_free'd by libpurple).
  purple_buddy_icons_set_account_icon(account, reinterpret_cast<guchar*>(data), len);
  return env.Undefined();
}

// setIdle(ref, idleSeconds): idle since that many seconds ago; 0: not idle.
Napi::Value SetIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  uint32_t seconds = 0;
  if (account == nullptr || !ArgId(info, 1, "idleSeconds", &seconds)) return Napi::Value();
  PurplePresence* presence = purple_account_get_presence(account);
  if (seconds == 0) purple_presence_set_idle(presence, FALSE, 0);
  else purple_presence_set_idle(presence, TRUE, std::time(nullptr) - static_cast<time_t>(seconds));
  return env.Undefined();
}

}  // namespace

void ExportPresenceFunctions(Napi::Env env, Napi::Object exports) {
  Export<SetIcon>(env, exports, "setIcon");
  Export<SetIdle>(env, exports, "setIdle");
}

}  // namespace bridge
